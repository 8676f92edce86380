-- The provider's own numbers per UTC day, side by side: FOCUS billed cost (corrections
-- and refunds included, USD only), the gateway's per-request log (quota ÷ 500,000), the
-- balance query's daily quota and the billing-usage API total. The balance query's day
-- boundaries are not documented (see the contract notes), so its figure is `inferred`.
with

focus as (

    select
        cast(charge_period_start as date) as usage_date,
        sum(billed_cost) filter (where billing_currency = 'USD') as usd,
        count(*) filter (where is_correction) as correction_lines,
        count(*) filter (where billing_currency <> 'USD') as other_currency_lines
    from {{ ref('stg_billing__focus_charges') }}
    group by cast(charge_period_start as date)

),

gateway as (

    select
        billed_date as usage_date,
        sum(quota_usd) as usd
    from {{ ref('int_gateway_requests_summed_daily') }}
    group by billed_date

),

balance as (

    select
        usage_date,
        sum(quota_used_usd) as usd
    from {{ ref('stg_billing__balance_daily_quota') }}
    group by usage_date

),

usage_api as (

    select
        start_date as usage_date,
        sum(total_usage_usd) as usd
    from {{ ref('stg_billing__usage_totals') }}
    where end_date = start_date + 1
    group by start_date

),

days as (

    select usage_date from focus
    union
    select usage_date from gateway
    union
    select usage_date from balance
    union
    select usage_date from usage_api

),

final as (

    select
        days.usage_date,
        cast(focus.usd as decimal(38, 18)) as focus_billed_usd,
        cast(gateway.usd as decimal(38, 18)) as gateway_usd,
        cast(balance.usd as decimal(38, 18)) as balance_quota_usd,
        cast(usage_api.usd as decimal(38, 18)) as billing_usage_api_usd,
        coalesce(focus.correction_lines, 0) as focus_correction_lines,
        coalesce(focus.other_currency_lines, 0) as focus_other_currency_lines,
        case when balance.usd is not null then 'inferred' else 'unknown' end
            as balance_day_boundary_confidence
    from days
    left join focus on days.usage_date = focus.usage_date
    left join gateway on days.usage_date = gateway.usage_date
    left join balance on days.usage_date = balance.usage_date
    left join usage_api on days.usage_date = usage_api.usage_date

)

select * from final
