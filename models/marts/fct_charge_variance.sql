-- One row per incident × service label × billable dimension: the forecast (ledger as
-- read × rate sheet) and recomputed (our attempts × verified rates) amounts per
-- dimension, and one `all` row per label that also carries the gateway and billed
-- amounts (the provider reports per label, not per dimension). Variance is billed −
-- forecast where billed is known, else recomputed − forecast.
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

charges as (

    select * from {{ ref('int_attempt_charges_priced') }}

),

ledger as (

    select * from {{ ref('int_ledger_quantities_priced') }}

),

waterfall as (

    select * from {{ ref('int_incident_waterfall_computed') }}

),

forecast_by_dimension as (

    select
        incidents.incident_id,
        ledger.service_label,
        ledger.dimension,
        sum(ledger.sheet_amount) as forecast_usd
    from incidents
    inner join ledger
        on
            ledger.bucket_start_as_read >= incidents.window_start
            and ledger.bucket_start_as_read < incidents.window_end
    group by incidents.incident_id, ledger.service_label, ledger.dimension

),

recomputed_by_dimension as (

    select
        incidents.incident_id,
        charges.priced_label as service_label,
        charges.dimension,
        sum(charges.amount_usd) as recomputed_usd,
        -- the weakest label of the figures summed
        case
            when bool_and(charges.amount_confidence = 'verified') then 'verified'
            when bool_or(charges.amount_confidence = 'unknown') then 'unknown'
            else 'inferred'
        end as recomputed_confidence
    from incidents
    inner join charges
        on
            charges.billed_at >= incidents.window_start
            and charges.billed_at < incidents.window_end
    group by incidents.incident_id, charges.priced_label, charges.dimension

),

dimension_rows as (

    select
        coalesce(forecast.incident_id, recomputed.incident_id) as incident_id,
        coalesce(forecast.service_label, recomputed.service_label) as service_label,
        coalesce(forecast.dimension, recomputed.dimension) as dimension,
        cast(coalesce(forecast.forecast_usd, 0) as decimal(38, 18)) as forecast_usd,
        cast(coalesce(recomputed.recomputed_usd, 0) as decimal(38, 18)) as recomputed_usd,
        cast(null as decimal(38, 18)) as gateway_usd,
        cast(null as decimal(38, 18)) as billed_usd,
        coalesce(recomputed.recomputed_confidence, 'verified') as confidence
    from forecast_by_dimension as forecast
    full outer join recomputed_by_dimension as recomputed
        on
            forecast.incident_id = recomputed.incident_id
            and forecast.service_label = recomputed.service_label
            and forecast.dimension = recomputed.dimension

),

label_causes as (

    select
        incident_id,
        service_label,
        any_value(forecast) as forecast_usd,
        any_value(recomputed) as recomputed_usd,
        any_value(gateway) as gateway_usd,
        any_value(billed) as billed_usd,
        any_value(has_billing_export) as has_billing_export,
        max_by(cause, abs(amount_usd)) as largest_cause
    from waterfall
    group by incident_id, service_label

),

label_rows as (

    select
        label_causes.incident_id,
        label_causes.service_label,
        'all' as dimension,
        cast(label_causes.forecast_usd as decimal(38, 18)) as forecast_usd,
        cast(label_causes.recomputed_usd as decimal(38, 18)) as recomputed_usd,
        cast(label_causes.gateway_usd as decimal(38, 18)) as gateway_usd,
        cast(
            case when label_causes.has_billing_export then label_causes.billed_usd end
            as decimal(38, 18)
        ) as billed_usd,
        case when label_causes.has_billing_export then 'verified' else 'unknown' end
            as confidence,
        label_causes.largest_cause
    from label_causes

),

causes as (

    select * from {{ ref('variance_causes') }}

),

unioned as (

    select
        dimension_rows.*,
        case
            when dimension_rows.dimension in ('input_cache_read', 'input_cache_write')
                then 'cached_tokens_priced_as_input'
        end as largest_cause
    from dimension_rows
    union all
    select * from label_rows

),

final as (

    select
        unioned.incident_id || ':' || unioned.service_label || ':' || unioned.dimension
            as charge_variance_key,
        unioned.incident_id,
        unioned.service_label,
        unioned.dimension,
        unioned.forecast_usd,
        unioned.recomputed_usd,
        unioned.gateway_usd,
        unioned.billed_usd,
        cast(
            coalesce(unioned.billed_usd, unioned.recomputed_usd) - unioned.forecast_usd
            as decimal(38, 18)
        ) as variance_usd,
        case when unioned.billed_usd is not null then 'billed' else 'recomputed' end
            as variance_basis,
        case
            when unioned.forecast_usd <> 0
                then cast(round(
                    (coalesce(unioned.billed_usd, unioned.recomputed_usd) - unioned.forecast_usd)
                    * 100 / unioned.forecast_usd, 4
                ) as decimal(18, 4))
        end as variance_percent,
        causes.variance_class,
        unioned.largest_cause,
        unioned.confidence
    from unioned
    left join causes on unioned.largest_cause = causes.cause

)

select * from final
