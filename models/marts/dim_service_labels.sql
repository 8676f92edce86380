-- Every service or model label seen in any evidence stream, mapped through the alias
-- seed to the label it is priced as, with where it appears. Each stream gives its
-- distinct labels first: a few labels from millions of rows, before the union and join.
with

aliases as (

    select * from {{ ref('model_aliases') }}

),

seen as (

    select distinct
        requested_model as label,
        'app_requests' as stream
    from {{ ref('stg_app__request_attempts') }}
    union all
    select distinct
        model_name as label,
        'gateway_logs' as stream
    from {{ ref('stg_gateway__logs') }}
    union all
    select distinct
        upstream_model_name as label,
        'gateway_upstream' as stream
    from {{ ref('stg_gateway__logs') }}
    union all
    select distinct
        model as label,
        'usage_ledger' as stream
    from {{ ref('stg_ledger__usage_buckets') }}
    union all
    select distinct
        service_label as label,
        'pricing_catalog' as stream
    from {{ ref('stg_pricing__catalog_prices') }}
    union all
    select distinct
        service_label as label,
        'rate_sheet' as stream
    from {{ ref('stg_pricing__rate_sheet') }}
    union all
    select distinct
        sku_id as label,
        'billing' as stream
    from {{ ref('stg_billing__focus_charges') }}

),

mapped as (

    select
        coalesce(aliases.service_label, seen.label) as service_label,
        seen.label,
        seen.stream
    from seen
    left join aliases on seen.label = aliases.alias
    where seen.label is not null and seen.label <> ''

),

final as (

    select
        service_label,
        -- null, not an empty list, when a label is seen under no other name
        case
            when count(*) filter (where label <> service_label) > 0
                then array_sort(array_distinct(
                    array_agg(label) filter (where label <> service_label)
                ))
        end as aliases_seen,
        bool_or(stream = 'app_requests') as is_requested_by_app,
        bool_or(stream = 'gateway_logs') as is_billed_by_gateway,
        bool_or(stream = 'gateway_upstream') as is_gateway_upstream_model,
        bool_or(stream = 'usage_ledger') as is_in_ledger,
        bool_or(stream = 'pricing_catalog') as is_in_catalog,
        bool_or(stream = 'rate_sheet') as is_in_rate_sheet,
        bool_or(stream = 'billing') as is_in_billing_export
    from mapped
    group by service_label

)

select * from final
