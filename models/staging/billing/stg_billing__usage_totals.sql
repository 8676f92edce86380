with

source as (

    select * from {{ source('billing', 'billing_usage') }}
    where _superseded_by is null

),

renamed as (

    select
        {{ row_key() }} as billing_usage_key,
        start_date,
        end_date,
        total_usage_cents,
        {{ cents_to_usd('total_usage_cents') }} as total_usage_usd,
        daily_costs_json,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source

)

select * from renamed
