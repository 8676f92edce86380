-- The gateway's billed requests summed per UTC day, billed label and ratios: what the
-- whole-history readers (the provider's daily totals, the rates inferred from the
-- gateway's ratios) take instead of every request. Incremental by day: a build sums again
-- the whole days its changed gateway requests fall in.
{{
    config(
        materialized=attempt_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['incremental_attempts'],
        pre_hook="{{ delete_changed_days('first_billed_at', 'gateway_request') }}",
    )
}}

-- depends_on: {{ ref('int_attempt_changes_detected') }}
with

gateway as (

    select * from {{ ref('int_gateway_requests_deduplicated') }}
    where {{ changed_days_filter('billed_at', 'gateway_request') }}

),

summed as (

    select
        cast(billed_at as date) as billed_date,
        billed_label,
        has_ratios,
        model_price_usd is not null as is_priced_per_request,
        model_ratio_exact,
        completion_ratio_exact,
        cache_ratio_exact,
        cache_creation_ratio_exact,
        count(*) as requests,
        sum(quota_usd) as quota_usd,
        min(billed_at) as first_billed_at,
        max(billed_at) as last_billed_at
    from gateway
    group by
        cast(billed_at as date),
        billed_label,
        has_ratios,
        model_price_usd is not null,
        model_ratio_exact,
        completion_ratio_exact,
        cache_ratio_exact,
        cache_creation_ratio_exact

)

select * from summed
