-- The checklist's remediation items each incident's attributed causes call for, with the
-- evidence that calls for each and an owner taken from the incident definition. An item
-- appears only when a material cause calls for it.
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

attribution as (

    select * from {{ ref('fct_variance_attribution') }}

),

timeline as (

    select * from {{ ref('fct_incident_timeline') }}

),

contract as (

    select * from {{ ref('fct_contract_verification') }}

),

usage_checks as (

    select * from {{ ref('fct_usage_validation') }}

),

ledger as (

    select * from {{ ref('int_ledger_quantities_priced') }}

),

app_attempts as (

    select * from {{ ref('int_incident_app_attempts_windowed') }}

),

items as (

    select * from {{ ref('remediation_items') }}

),

material as (

    select * from attribution
    where claim_status <> 'immaterial'

),

---------- replace the stale rate source: which rates, which labels

stale_rates as (

    select distinct
        incidents.incident_id,
        ledger.service_label,
        ledger.dimension,
        ledger.sheet_usd_per_unit * 1000000 as sheet_per_million,
        ledger.verified_usd_per_unit * 1000000 as verified_per_million
    from incidents
    inner join ledger
        on
            ledger.bucket_start_utc >= incidents.window_start
            and ledger.bucket_start_utc < incidents.window_end
    where ledger.sheet_usd_per_unit <> ledger.verified_usd_per_unit

),

stale_rate_list as (

    select
        incident_id,
        {{ ordered_string_agg(
            "service_label || ' ' || dimension || ' ('
            || trim(trailing '.' from trim(trailing '0' from cast(sheet_per_million as string)))
            || ' → '
            || trim(trailing '.' from trim(trailing '0' from cast(verified_per_million as string)))
            || ' USD per 1M)'",
            "'; '",
            'service_label, dimension'
        ) }} as rates
    from stale_rates
    group by incident_id

),

rate_item as (

    select
        material.incident_id,
        'replace_stale_rate_source' as remediation_item,
        {{ ordered_string_agg('material.cause', "', '", 'material.cause', distinct=true) }}
            as called_for_by,
        'rate sheet differs from the verified rate in force for '
        || coalesce(any_value(stale_rate_list.rates), 'the realiased labels') as evidence
    from material
    left join stale_rate_list on material.incident_id = stale_rate_list.incident_id
    where material.cause in ('stale_rate', 'alias_mismatch')
    group by material.incident_id

),

---------- a parser regression test: the exact fields and formats

cache_fields as (

    select
        contract.incident_id,
        {{ ordered_string_agg(
            "replace(contract.item, ': ', ' field ')", "'; '",
            "replace(contract.item, ': ', ' field ')", distinct=true
        ) }} as fields
    from contract
    where
        contract.item_kind = 'response_usage_field'
        and contract.status = 'agrees'
        and contract.item ilike '%cache%'
    group by contract.incident_id

),

undocumented_fields as (

    select
        contract.incident_id,
        {{ ordered_string_agg('contract.item', "'; '", 'contract.item', distinct=true) }}
            as fields
    from contract
    where contract.item_kind = 'response_usage_field' and contract.status = 'disagrees'
    group by contract.incident_id

),

parser_item as (

    select
        material.incident_id,
        'add_parser_regression_test' as remediation_item,
        {{ ordered_string_agg('material.cause', "', '", 'material.cause', distinct=true) }}
            as called_for_by,
        'pin the ledger parser to the documented usage semantics: cached and cache-write '
        || 'tokens are priced at their own rates, not as input ('
        || coalesce(any_value(cache_fields.fields), 'no cache fields seen') || ')'
        || coalesce(
            '; undocumented usage fields seen: ' || any_value(undocumented_fields.fields), ''
        )
            as evidence
    from material
    left join cache_fields on material.incident_id = cache_fields.incident_id
    left join undocumented_fields on material.incident_id = undocumented_fields.incident_id
    where material.variance_class = 'field_interpretation_gap'
    group by material.incident_id

),

---------- a deployment guard: the change that triggered a cause

guard_item as (

    select
        timeline.incident_id,
        'add_deployment_guard' as remediation_item,
        {{ ordered_string_agg('timeline.cause', "', '", 'timeline.cause', distinct=true) }}
            as called_for_by,
        {{ ordered_string_agg(
            "timeline.likely_trigger || ' is the likely trigger of '
            || replace(timeline.cause, '_', ' ')
            || ' (its share of attempts departed from the hours before in the hour from '
            || " ~ format_timestamp('timeline.event_at', '%H:%M') ~ " || ' UTC)'",
            "'; '",
            'timeline.event_at, timeline.likely_trigger, timeline.cause'
        ) }} as evidence
    from timeline
    where timeline.event_kind = 'cause_onset' and timeline.likely_trigger is not null
    group by timeline.incident_id

),

---------- a retry budget: the observed amplification and a suggested limit

retry_counts as (

    select
        incident_id,
        count(*) as attempts,
        count(distinct logical_request_id) as requests
    from app_attempts
    group by incident_id

),

retry_item as (

    select
        material.incident_id,
        'add_retry_budget' as remediation_item,
        material.cause as called_for_by,
        'observed ' || round(retry_counts.attempts / retry_counts.requests, 3)
        || ' attempts per logical request (' || (retry_counts.attempts - retry_counts.requests)
        || ' extra attempts for ' || retry_counts.requests || ' requests; '
        || coalesce((
            select usage_checks.check_count
            from usage_checks
            where
                usage_checks.incident_id = material.incident_id
                and usage_checks.check_name = 'retried_requests'
        ), 0) || ' requests retried, costing ' || round(material.amount_usd, 2)
        || ' USD); suggested limit: at most 1 automatic retry per request with exponential '
        || 'backoff, and a client retry budget of 10% of requests per minute' as evidence
    from material
    inner join retry_counts on material.incident_id = retry_counts.incident_id
    where material.cause = 'retry_amplification'

),

---------- a reporting alert: the earliest hour the signal was detectable

alert_item as (

    select
        incident_id,
        'add_reporting_alert' as remediation_item,
        min_by(cause, event_at) as called_for_by,
        'earliest detectable signal: ' || replace(min_by(cause, event_at), '_', ' ')
        || ' from ' || {{ format_timestamp('min(event_at)', '%Y-%m-%d %H:%M') }} || ' UTC ('
        || min_by(detail, event_at) || '; ' || round(min_by(amount_usd, event_at), 2)
        || ' USD in the window)' as evidence
    from timeline
    where event_kind = 'cause_onset'
    group by incident_id

),

---------- a support packet: what remains on the provider's side

support_item as (

    select
        incident_id,
        'prepare_support_packet' as remediation_item,
        {{ ordered_string_agg('cause', "', '", 'abs(amount_usd) desc, cause') }} as called_for_by,
        'unresolved on the provider side: '
        || {{ ordered_string_agg(
            "replace(cause, '_', ' ') || ' (' || round(amount_usd, 2) || ' USD)'", "', '",
            'abs(amount_usd) desc, cause'
        ) }} || '; see support_packet.md' as evidence
    from material
    where claim_status = 'unresolved'
    group by incident_id

),

unioned as (

    select * from rate_item
    union all
    select * from parser_item
    union all
    select * from guard_item
    union all
    select * from retry_item
    union all
    select * from alert_item
    union all
    select * from support_item

),

final as (

    select
        unioned.incident_id || ':' || unioned.remediation_item as remediation_key,
        unioned.incident_id,
        unioned.remediation_item,
        items.checklist_item,
        unioned.called_for_by,
        unioned.evidence,
        coalesce(incidents.incident_owner, 'unassigned') as owner,
        (items.item_order)::integer as item_order
    from unioned
    inner join items on unioned.remediation_item = items.remediation_item
    inner join incidents on unioned.incident_id = incidents.incident_id

)

select * from final
