-- Every ledger bucket × billable dimension in the ledger's own semantics (input tokens at
-- face value, output tokens, requests), priced twice: by the rate sheet the forecast used
-- and by the verified catalog rate in force at the bucket's true UTC start. The forecast,
-- the timezone shift and the stale rate are all sums over these rows.
with

ledger as (

    select * from {{ ref('int_ledger_buckets_aligned') }}

),

sheet_rates as (

    select * from {{ ref('int_rate_sheet_intervals') }}

),

catalog_rates as (

    select * from {{ ref('int_catalog_rates_intervals') }}

),

ledger_by_dimension as (

    select
        ledger_bucket_key,
        service_label,
        bucket_start_as_read,
        bucket_start_utc,
        time_alignment_confidence,
        input_tokens as input,
        output_tokens as output,
        request_count as request
    from ledger

),

quantities as (

    -- unpivot leaves out null quantities: a dimension the ledger did not record
    select * from ledger_by_dimension
    unpivot (quantity for dimension in (input, output, request))

),

priced as (

    select
        quantities.ledger_bucket_key || ':' || quantities.dimension as ledger_quantity_key,
        quantities.*,
        sheet_rates.usd_per_unit as sheet_usd_per_unit,
        catalog_rates.usd_per_unit as verified_usd_per_unit,
        catalog_rates.rate_confidence,
        -- a dimension the sheet does not price was forecast at zero; one without a
        -- verified rate keeps the sheet's, so forecast + shift + stale = aligned exactly
        quantities.quantity * coalesce(sheet_rates.usd_per_unit, 0) as sheet_amount,
        quantities.quantity
        * coalesce(catalog_rates.usd_per_unit, sheet_rates.usd_per_unit, 0) as verified_amount
    from quantities
    left join sheet_rates
        on
            quantities.service_label = sheet_rates.service_label
            and quantities.dimension = sheet_rates.dimension
            and quantities.bucket_start_utc >= sheet_rates.valid_from
            and (sheet_rates.valid_to is null or quantities.bucket_start_utc < sheet_rates.valid_to)
    left join catalog_rates
        on
            quantities.service_label = catalog_rates.service_label
            and quantities.dimension = catalog_rates.dimension
            and quantities.bucket_start_utc >= catalog_rates.valid_from
            and (
                catalog_rates.valid_to is null
                or quantities.bucket_start_utc < catalog_rates.valid_to
            )

)

select * from priced
