-- Official rates per service label × dimension with validity intervals built from
-- successive captured catalog snapshots: each snapshot's rate is in force from its
-- capture until the next snapshot of the same label and dimension.
with

prices as (

    select * from {{ ref('stg_pricing__catalog_prices') }}

),

dimensions as (

    select * from {{ ref('billable_dimensions') }}

),

prices_by_field as (

    select
        catalog_price_key,
        service_label,
        token_unit_size,
        currency,
        source_url,
        captured_at,
        captured_by,
        capture_status,
        source_path,
        input_usd_per_unit as input,
        output_usd_per_unit as output,
        cache_read_usd_per_unit as cache_read,
        cache_write_usd_per_unit as cache_write,
        per_request_usd as per_request
    from prices

),

unpivoted as (

    -- a field the capture did not publish (null) gives no rate row
    select * from prices_by_field
    unpivot (
        published_rate for catalog_price_field
        in (input, output, cache_read, cache_write, per_request)
    )

),

rated as (

    select
        unpivoted.*,
        dimensions.dimension,
        case when dimensions.unit = 'request' then 1 else unpivoted.token_unit_size end
            as unit_size
    from unpivoted
    inner join dimensions
        on unpivoted.catalog_price_field = dimensions.catalog_price_field

),

intervals as (

    select
        catalog_price_key || ':' || dimension as rate_interval_key,
        service_label,
        dimension,
        published_rate,
        unit_size,
        {{ rate_per_unit('published_rate', 'unit_size') }} as usd_per_unit,
        currency,
        captured_at as valid_from,
        -- ties on the capture time (or none) broken by the snapshot's key, so that every
        -- build numbers the same snapshots the same way
        lead(captured_at) over (
            partition by service_label, dimension order by captured_at, catalog_price_key
        ) as valid_to,
        row_number() over (
            partition by service_label, dimension order by captured_at, catalog_price_key
        ) as snapshot_number,
        source_url,
        captured_at,
        captured_by,
        source_path,
        case
            when
                capture_status = 'sidecar' and captured_at is not null and currency = 'USD'
                and unit_size is not null
                then 'verified'
            else 'unknown'
        end as rate_confidence
    from rated

)

select * from intervals
