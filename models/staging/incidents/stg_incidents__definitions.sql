with

source as (

    select * from {{ source('incidents', 'incidents') }}
    where _superseded_by is null

),

renamed as (

    select
        {{ row_key() }} as incident_definition_key,
        incident_id,
        start_utc as window_start,
        end_utc as window_end,
        coalesce(buffer_minutes, 0) as buffer_minutes,
        start_utc - {{ interval_of('coalesce(buffer_minutes, 0)', 'minute') }} as buffered_start,
        end_utc + {{ interval_of('coalesce(buffer_minutes, 0)', 'minute') }} as buffered_end,
        finance_timezone,
        owner as incident_owner,
        finance_reviewer,
        tolerance_percent,
        tolerance_abs_usd,
        coalesce(provider, 'CometAPI') as provider_name,
        notes,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source

)

select * from renamed
