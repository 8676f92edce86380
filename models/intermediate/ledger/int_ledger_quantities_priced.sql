-- Every ledger bucket × billable dimension at face value (input_tokens as input,
-- cached_tokens as cache reads, output_tokens as output, request_count as requests: the
-- way a spreadsheet prices each column), priced twice: by the rate sheet the forecast used
-- and by the verified catalog rate in force at the bucket's true UTC start. The forecast,
-- the timezone shift, the stale rate and the rates missing from the sheet are all sums
-- over these rows.
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

-- labels the catalog prices at all: a dimension it leaves out is not billable for them
catalog_labels as (

    select distinct service_label
    from catalog_rates

),

ledger_by_dimension as (

    select
        ledger_bucket_key,
        service_label,
        bucket_start_as_read,
        bucket_start_utc,
        time_alignment_confidence,
        input_tokens as input,
        cached_tokens as input_cache_read,
        output_tokens as output,
        request_count as request
    from ledger

),

quantities as (

    -- unpivot leaves out null quantities: a dimension the ledger did not record
    select * from ledger_by_dimension
    unpivot (quantity for dimension in (input, input_cache_read, output, request))

),

priced as (

    select
        quantities.ledger_bucket_key || ':' || quantities.dimension as ledger_quantity_key,
        quantities.*,
        sheet_rates.usd_per_unit as sheet_usd_per_unit,
        -- the catalog's rate; 0 for a dimension the catalog does not price for a label it
        -- lists (tokens of a model billed per call); the sheet's for a label it does not list
        case
            when catalog_rates.usd_per_unit is not null then catalog_rates.usd_per_unit
            when first_snapshot.usd_per_unit is not null then first_snapshot.usd_per_unit
            when catalog_labels.service_label is not null then 0
            else sheet_rates.usd_per_unit
        end as verified_usd_per_unit,
        case
            when catalog_rates.usd_per_unit is not null then catalog_rates.rate_confidence
            -- assumed unchanged since before its first capture: never stronger than inferred
            when first_snapshot.usd_per_unit is not null then 'inferred'
            when catalog_labels.service_label is not null then 'verified'
            else 'unknown'
        end as rate_confidence,
        -- a dimension the sheet does not price was forecast at zero
        quantities.quantity * coalesce(sheet_rates.usd_per_unit, 0) as sheet_amount,
        quantities.quantity
        * case
            when catalog_rates.usd_per_unit is not null then catalog_rates.usd_per_unit
            when first_snapshot.usd_per_unit is not null then first_snapshot.usd_per_unit
            when catalog_labels.service_label is not null then 0
            else coalesce(sheet_rates.usd_per_unit, 0)
        end as verified_amount
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
    left join catalog_rates as first_snapshot
        on
            quantities.service_label = first_snapshot.service_label
            and quantities.dimension = first_snapshot.dimension
            and first_snapshot.snapshot_number = 1
            and catalog_rates.service_label is null
    left join catalog_labels on quantities.service_label = catalog_labels.service_label

)

select * from priced
