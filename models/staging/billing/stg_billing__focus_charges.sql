with

source as (

    select * from {{ source('billing', 'focus_charges') }}
    where _superseded_by is null

),

renamed as (

    select
        ---------- keys
        {{ row_key() }} as charge_line_key,
        invoice_id,
        billing_account_id,
        sub_account_id,

        ---------- period (UTC, [start, end))
        charge_period_start,
        charge_period_end,
        billing_period_start,
        billing_period_end,

        ---------- what was charged
        charge_category,
        charge_class,
        coalesce(charge_class = 'Correction', false) as is_correction,
        charge_description,
        service_name,
        sku_id,
        sku_price_id,
        pricing_quantity,
        pricing_unit,
        consumed_quantity,
        consumed_unit,
        list_unit_price,

        ---------- money
        billing_currency,
        billed_cost,
        effective_cost,
        list_cost,
        contracted_cost,
        extensions_json,

        ---------- provenance
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
