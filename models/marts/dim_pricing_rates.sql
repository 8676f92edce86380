-- Every rate we know, per service label × dimension × source, with its validity interval
-- [valid_from, valid_to) and its confidence: captured catalog snapshots (verified), the
-- internal rate sheet (what the forecast used), and rates inferred from the gateway's
-- own ratios (list price = 2 × model_ratio USD per 1M input tokens; inferred).
with

catalog as (

    select * from {{ ref('int_catalog_rates_intervals') }}

),

sheet as (

    select * from {{ ref('int_rate_sheet_intervals') }}

),

gateway_days as (

    select * from {{ ref('int_gateway_requests_summed_daily') }}

),

gateway_ratios as (

    select
        billed_label as service_label,
        model_ratio_exact,
        completion_ratio_exact,
        cache_ratio_exact,
        cache_creation_ratio_exact,
        min(first_billed_at) as first_seen_at,
        max(last_billed_at) as last_seen_at
    from gateway_days
    where has_ratios and not is_priced_per_request
    group by all

),

gateway_rates as (

    select
        gateway_ratios.service_label,
        dimension_ratios.dimension,
        cast(
            2 * gateway_ratios.model_ratio_exact * dimension_ratios.multiplier as decimal(38, 12)
        ) as published_rate,
        gateway_ratios.first_seen_at,
        gateway_ratios.last_seen_at
    from gateway_ratios,
        lateral (
            select
                'input' as dimension,
                cast(1 as decimal(18, 8)) as multiplier
            union all
            select
                'output' as dimension,
                completion_ratio_exact as multiplier
            union all
            select
                'input_cache_read' as dimension,
                cache_ratio_exact as multiplier
            union all
            select
                'input_cache_write' as dimension,
                cache_creation_ratio_exact as multiplier
        ) as dimension_ratios
    where dimension_ratios.multiplier is not null and dimension_ratios.multiplier <> 0

),

unioned as (

    select
        rate_interval_key as pricing_rate_key,
        service_label,
        dimension,
        'catalog_snapshot' as rate_source_kind,
        cast(published_rate as decimal(38, 12)) as published_rate,
        cast(unit_size as decimal(38, 0)) as unit_size,
        usd_per_unit,
        currency,
        valid_from,
        valid_to,
        source_url as rate_source,
        captured_at,
        rate_confidence
    from catalog
    union all
    select
        rate_interval_key as pricing_rate_key,
        service_label,
        dimension,
        'rate_sheet' as rate_source_kind,
        cast(published_rate as decimal(38, 12)) as published_rate,
        cast(unit_size as decimal(38, 0)) as unit_size,
        usd_per_unit,
        currency,
        valid_from,
        valid_to,
        rate_source,
        null as captured_at,
        -- what the forecast used: a claim about the sheet, not about the price
        'inferred' as rate_confidence
    from sheet
    union all
    select
        md5(
            'gateway_ratio:' || service_label || ':' || dimension || ':'
            || cast(published_rate as string) || ':'
            || {{ format_timestamp('first_seen_at', '%Y-%m-%d %H:%M:%S.%f') }}
        ) as pricing_rate_key,
        service_label,
        dimension,
        'gateway_ratio' as rate_source_kind,
        published_rate,
        cast(1000000 as decimal(38, 0)) as unit_size,
        {{ rate_per_unit('published_rate', 1000000) }} as usd_per_unit,
        'USD' as currency,
        first_seen_at as valid_from,
        null as valid_to,
        'gateway log ratios (2 × model_ratio × dimension ratio per 1M tokens)' as rate_source,
        null as captured_at,
        'inferred' as rate_confidence
    from gateway_rates

)

select * from unioned
