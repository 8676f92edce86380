-- One row per incident × pair of computation paths (forecast, recomputed, gateway,
-- billed): both amounts, the residual and whether it is within the incident's tolerance
-- (within the absolute tolerance, or within the percentage of the first path's amount).
with

waterfall as (

    select * from {{ ref('int_incident_waterfall_computed') }}

),

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

per_label as (

    select distinct
        incident_id,
        service_label,
        forecast,
        recomputed,
        gateway,
        billed
    from waterfall

),

paths as (

    select
        incident_id,
        -- one exact type for all four, so unpivoting never rounds any of them
        cast(sum(forecast) as decimal(38, 18)) as forecast,
        cast(sum(recomputed) as decimal(38, 18)) as recomputed,
        cast(sum(gateway) as decimal(38, 18)) as gateway,
        cast(sum(billed) as decimal(38, 18)) as billed
    from per_label
    group by incident_id

),

long_paths as (

    select * from paths
    unpivot (amount_usd for path_name in (forecast, recomputed, gateway, billed))

),

path_order as (

    select
        ordered.path_name,
        ordered.path_rank
    from (
        values ('forecast', 1), ('recomputed', 2), ('gateway', 3), ('billed', 4)
    ) as ordered (path_name, path_rank)

),

ranked_paths as (

    select
        long_paths.incident_id,
        long_paths.path_name,
        path_order.path_rank,
        cast(long_paths.amount_usd as decimal(38, 18)) as amount_usd
    from long_paths
    inner join path_order on long_paths.path_name = path_order.path_name

),

pairs as (

    select
        path_a.incident_id,
        path_a.path_name as path_a,
        path_b.path_name as path_b,
        path_a.amount_usd as amount_a_usd,
        path_b.amount_usd as amount_b_usd,
        path_b.amount_usd - path_a.amount_usd as residual_usd
    from ranked_paths as path_a
    inner join ranked_paths as path_b
        on
            path_a.incident_id = path_b.incident_id
            and path_a.path_rank < path_b.path_rank

),

final as (

    select
        pairs.incident_id || ':' || pairs.path_a || ':' || pairs.path_b as path_pair_key,
        pairs.incident_id,
        pairs.path_a,
        pairs.path_b,
        pairs.amount_a_usd,
        pairs.amount_b_usd,
        cast(pairs.residual_usd as decimal(38, 18)) as residual_usd,
        -- a ratio for people to read, not money: rounded to basis points of a percent
        case
            when pairs.amount_a_usd <> 0
                then cast(round(pairs.residual_usd * 100 / pairs.amount_a_usd, 4) as decimal(18, 4))
        end as residual_percent,
        incidents.tolerance_abs_usd,
        incidents.tolerance_percent,
        coalesce(
            abs(pairs.residual_usd) <= incidents.tolerance_abs_usd
            or abs(pairs.residual_usd) * 100
            <= abs(pairs.amount_a_usd) * incidents.tolerance_percent,
            false
        ) as is_within_tolerance
    from pairs
    inner join incidents on pairs.incident_id = incidents.incident_id

)

select * from final
