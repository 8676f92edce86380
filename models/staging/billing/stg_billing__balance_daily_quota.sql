with

source as (

    select * from {{ source('billing', 'balance_daily_quota') }}
    where _superseded_by is null

),

renamed as (

    select
        {{ row_key() }} as balance_day_key,
        usage_date,
        token_name,
        quota_used_usd,
        request_count,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source

)

select * from renamed
