-- forecast + Σ attribution = billed, exactly (to the last decimal), for every incident.
with

paths as (

    select
        incident_id,
        max(amount_a_usd) filter (where path_a = 'forecast') as forecast_usd,
        max(amount_b_usd) filter (where path_b = 'billed') as billed_usd
    from {{ ref('fct_computation_paths') }}
    group by incident_id

),

attributed as (

    select
        incident_id,
        sum(amount_usd) as attributed_usd
    from {{ ref('fct_variance_attribution') }}
    group by incident_id

)

select
    paths.incident_id,
    paths.forecast_usd,
    attributed.attributed_usd,
    paths.billed_usd
from paths
left join attributed on paths.incident_id = attributed.incident_id
where paths.forecast_usd + coalesce(attributed.attributed_usd, 0) != paths.billed_usd
