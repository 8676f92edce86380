-- One row per billable attempt × billable dimension: the quantity, the verified rate in
-- force when the attempt was sent, and the exact amount, each with its confidence.
{{
    config(
        materialized=attempt_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['incremental_attempts'],
        pre_hook="{{ delete_changed_attempts() }}",
        meta={'test_scope': {'key': 'logical_request_id', 'time': none, 'kind': 'joined_request'}},
    )
}}

-- depends_on: {{ ref('int_attempt_changes_detected') }}
{%- set changed = changed_attempts_filter(
    'logical_request_id', 'change_anchor_at', 'joined_request'
) %}
with

usage as (

    select * from {{ ref('int_attempt_usage_normalized') }}
    where {{ changed }}

),

attempts as (

    select * from {{ ref('int_attempts_joined') }}
    where {{ changed }}

),

rates as (

    select * from {{ ref('int_catalog_rates_intervals') }}

),

usage_in_time as (

    select
        {{ star_except('usage', ['logical_request_id', 'change_anchor_at']) }},
        attempts.logical_request_id,
        attempts.attempt_number,
        attempts.cometapi_request_id,
        attempts.service_label as requested_label,
        coalesce(attempts.billed_label, attempts.service_label) as priced_label,
        attempts.sent_at,
        attempts.billed_at,
        attempts.capture_status,
        attempts.is_ledgered_attempt
    from usage
    inner join attempts on usage.attempt_key = attempts.attempt_key

),

-- before the first captured snapshot, its rate is assumed unchanged: inferred, not verified
first_snapshot as (

    select * from rates
    where snapshot_number = 1

),

priced as (

    select
        usage_in_time.*,
        coalesce(in_force.usd_per_unit, first_snapshot.usd_per_unit) as usd_per_unit,
        case
            when in_force.usd_per_unit is not null then in_force.rate_confidence
            -- assumed unchanged since before its capture: never stronger than inferred
            when
                first_snapshot.usd_per_unit is not null
                and first_snapshot.rate_confidence = 'verified'
                then 'inferred'
            else 'unknown'
        end as rate_confidence,
        coalesce(in_force.source_url, first_snapshot.source_url) as rate_source_url,
        coalesce(in_force.captured_at, first_snapshot.captured_at) as rate_captured_at
    from usage_in_time
    -- the rate in force when the attempt was sent (joined here, not in a CTE of its own:
    -- a second reference to `usage_in_time` would materialise every priced row twice)
    left join rates as in_force
        on
            usage_in_time.priced_label = in_force.service_label
            and usage_in_time.dimension = in_force.dimension
            and usage_in_time.sent_at >= in_force.valid_from
            and (in_force.valid_to is null or usage_in_time.sent_at < in_force.valid_to)
    left join first_snapshot
        on
            usage_in_time.priced_label = first_snapshot.service_label
            and usage_in_time.dimension = first_snapshot.dimension
            and in_force.service_label is null

),

final as (

    select
        attempt_dimension_key,
        attempt_key,
        logical_request_id,
        attempt_number,
        cometapi_request_id,
        requested_label,
        priced_label,
        dimension,
        quantity,
        quantity_confidence,
        sent_at,
        billed_at,
        capture_status,
        is_ledgered_attempt,
        usd_per_unit,
        rate_confidence,
        rate_source_url,
        rate_captured_at,
        cast(quantity * usd_per_unit as decimal(38, 18)) as amount_usd,
        case
            when usd_per_unit is null or quantity is null then 'unknown'
            when
                rate_confidence = 'verified'
                and quantity_confidence in ('verified_from_response', 'verified_from_server_log')
                then 'verified'
            else 'inferred'
        end as amount_confidence
    from priced

)

select * from final
