with

source as (

    select * from {{ source('ledger', 'usage_ledger') }}
    where _superseded_by is null

),

placed as (

    select
        *,
        -- the bucket as a spreadsheet reads it: the clock time taken as UTC
        {{ instant_of_local_time("'UTC'", 'bucket_start_local') }} as bucket_start_as_read,
        case
            when bucket_start_offset is not null
                then cast(bucket_start_text as {{ timestamptz_type() }})
            when timezone is not null
                then {{ instant_of_local_time('timezone', 'bucket_start_local') }}
        end as bucket_start_declared_utc
    from source

),

renamed as (

    select
        ---------- keys
        {{ row_key() }} as ledger_bucket_key,

        ---------- the bucket
        bucket_start_text,
        bucket_start_local,
        bucket_start_as_read,
        bucket_start_declared_utc,
        bucket_start_as_read
        + {{ interval_of('bucket_minutes', 'minute') }} as bucket_end_as_read,
        bucket_minutes,
        timezone as declared_timezone,
        timezone_source,
        bucket_start_offset,
        case
            when timezone is null or bucket_start_offset is not null then 'not_applicable'
            when {{ local_time_in('timezone', 'bucket_start_declared_utc') }} <> bucket_start_local
                then 'nonexistent_local_time'
            when
                {{ local_time_in('timezone', 'bucket_start_declared_utc + interval 1 hour') }}
                = bucket_start_local
                or {{ local_time_in('timezone', 'bucket_start_declared_utc - interval 1 hour') }}
                = bucket_start_local
                then 'ambiguous_local_time'
            else 'ok'
        end as local_time_status,

        ---------- dimensions
        tenant,
        model,
        ledger_source,

        ---------- quantities as the ledger states them
        input_tokens,
        cached_tokens,
        output_tokens,
        request_count,

        ---------- what the file's sidecar declares each quantity column holds (null: not
        ---------- declared, to be read from the evidence)
        declared_input_tokens_convention,
        declared_cached_tokens_convention,
        declared_output_tokens_convention,
        declared_request_count_convention,

        ---------- provenance
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at

    from placed

)

select * from renamed
