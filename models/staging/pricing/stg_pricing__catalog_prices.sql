with

source as (

    select * from {{ source('pricing', 'pricing_catalog') }}
    where _superseded_by is null

),

renamed as (

    select
        ---------- keys
        {{ row_key() }} as catalog_price_key,
        model_id as service_label,

        ---------- prices as published (USD per unit_size)
        currency_unit,
        case
            when currency_unit ilike '%/ M Tokens%' or currency_unit ilike '%per 1M%'
                then cast(1000000 as decimal(18, 0))
            when currency_unit ilike '%/ K Tokens%' or currency_unit ilike '%per 1K%'
                then cast(1000 as decimal(18, 0))
        end as token_unit_size,
        upper(split_part(trim(currency_unit), ' ', 1)) as currency,
        input_usd_per_unit,
        output_usd_per_unit,
        cache_read_usd_per_unit,
        cache_write_usd_per_unit,
        per_request_usd,
        per_second_usd,
        pricing_json,

        ---------- capture evidence
        source_url,
        captured_at,
        captured_by,
        account_context,
        capture_status,

        ---------- provenance
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
