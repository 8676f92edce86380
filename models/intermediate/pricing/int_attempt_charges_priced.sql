-- One row per billable attempt × billable dimension: the quantity in canonical billable
-- dimensions (never collapsed into "tokens"), the verified rate in force when the
-- attempt was sent, and the exact amount, each with its confidence. The app's own
-- response usage wins (verified_from_response); without it the gateway's token counts
-- are used (verified_from_server_log, or estimated when the gateway's semantics are
-- unknown).
{{
    config(
        materialized=attempt_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['incremental_attempts'],
        pre_hook="{{ delete_changed_attempts() }}",
        meta={'test_scope': {'key': 'logical_request_id', 'time': 'change_anchor_at', 'kind': 'joined_request'}},
    )
}}

-- depends_on: {{ ref('int_attempt_changes_detected') }}
with

attempts as (

    select * from {{ ref('int_attempts_joined') }}
    where
        is_billed
        and {{ changed_attempts_filter(
            'logical_request_id', 'change_anchor_at', 'joined_request'
        ) }}

),

app as (

    select * from {{ ref('int_app_attempts_deduplicated') }}
    where {{ changed_attempts_filter('logical_request_id', 'sent_at', 'joined_request') }}

),

gateway as (

    select * from {{ ref('int_gateway_requests_deduplicated') }}
    where {{ changed_attempts_filter('request_key', 'billed_at', 'joined_gateway_request') }}

),

-- the ratios the gateway charged each request by, keys and ratios only: the list price of
-- a label the catalog does not list (a dated snapshot the gateway billed instead of the
-- requested label, say) is read from them
gateway_ratios as (

    select
        gateway_log_key,
        model_ratio_exact,
        completion_ratio_exact,
        cache_ratio_exact,
        cache_creation_ratio_exact,
        model_price_usd
    from {{ ref('int_gateway_requests_deduplicated') }}
    where {{ changed_attempts_filter('request_key', 'billed_at', 'joined_gateway_request') }}

),

rates as (

    select * from {{ ref('int_catalog_rates_intervals') }}

),

-- labels the catalog prices at all: a dimension it does not price for them is not billable
catalog_labels as (

    select distinct service_label
    from rates

),

---------- usage in canonical billable dimensions

-- labels the catalog prices per call: each billed attempt is one `request` unit
per_request_labels as (

    select distinct service_label
    from rates
    where dimension = 'request' and published_rate is not null

),

from_response as (

    select
        attempts.attempt_key,
        {{ response_usage_quantities('app') }},
        'verified_from_response' as quantity_confidence
    from attempts
    inner join app on attempts.app_attempt_key = app.attempt_key
    where attempts.has_app_usage

),

from_server_log as (

    select
        attempts.attempt_key,
        gateway.input_tokens as input_quantity,
        gateway.cache_read_tokens as input_cache_read_quantity,
        gateway.cache_write_tokens as input_cache_write_quantity,
        gateway.output_tokens as output_quantity,
        gateway.token_confidence as quantity_confidence
    from attempts
    inner join gateway on attempts.gateway_log_key = gateway.gateway_log_key
    where not attempts.has_app_usage

),

usage_by_source as (

    select * from from_response
    union all
    select * from from_server_log

),

wide as (

    select
        usage_by_source.*,
        attempts.logical_request_id,
        attempts.attempt_number,
        attempts.cometapi_request_id,
        attempts.service_label as requested_label,
        coalesce(attempts.billed_label, attempts.service_label) as priced_label,
        attempts.sent_at,
        attempts.billed_at,
        attempts.capture_status,
        attempts.is_ledgered_attempt,
        attempts.change_anchor_at,
        catalog_labels.service_label is not null as is_catalog_label,
        -- billed per call: priced so by the catalog, or by the gateway when the catalog
        -- does not list the label
        coalesce(
            per_request_labels.service_label is not null
            or (catalog_labels.service_label is null and gateway_ratios.model_price_usd > 0),
            false
        ) as is_per_request_label,
        case
            when
                per_request_labels.service_label is not null
                or (catalog_labels.service_label is null and gateway_ratios.model_price_usd > 0)
                then 1
            else 0
        end as request_quantity,
        -- the gateway's list price of each dimension (USD per token; 1M input tokens at
        -- model ratio 1 cost $2), for labels the catalog does not price
        gateway_ratios.model_ratio_exact * 0.000002 as gateway_input_usd_per_unit,
        gateway_ratios.model_ratio_exact * gateway_ratios.cache_ratio_exact * 0.000002
            as gateway_input_cache_read_usd_per_unit,
        gateway_ratios.model_ratio_exact * gateway_ratios.cache_creation_ratio_exact * 0.000002
            as gateway_input_cache_write_usd_per_unit,
        gateway_ratios.model_ratio_exact * gateway_ratios.completion_ratio_exact * 0.000002
            as gateway_output_usd_per_unit,
        gateway_ratios.model_price_usd as gateway_request_usd_per_unit
    from usage_by_source
    inner join attempts on usage_by_source.attempt_key = attempts.attempt_key
    left join per_request_labels
        on
            coalesce(attempts.billed_label, attempts.service_label)
            = per_request_labels.service_label
    left join catalog_labels
        on coalesce(attempts.billed_label, attempts.service_label) = catalog_labels.service_label
    left join gateway_ratios on attempts.gateway_log_key = gateway_ratios.gateway_log_key

),

unpivoted as (

    -- include nulls: a dimension the usage object lacks is `unavailable`, never silent
    select * from wide
    unpivot include nulls (
        quantity for dimension in (
            input_quantity as input,
            input_cache_read_quantity as input_cache_read,
            input_cache_write_quantity as input_cache_write,
            output_quantity as output,
            request_quantity as request
        )
    )

),

usage_in_time as (

    select
        {{ star_except('unpivoted', ['quantity', 'quantity_confidence']) }},
        unpivoted.attempt_key || ':' || unpivoted.dimension as attempt_dimension_key,
        cast(unpivoted.quantity as bigint) as quantity,
        case
            when unpivoted.quantity is null then 'unavailable'
            else unpivoted.quantity_confidence
        end as quantity_confidence
    from unpivoted
    where unpivoted.quantity is null or unpivoted.quantity <> 0

),

---------- priced by the rate in force when sent

-- before the first captured snapshot, its rate is assumed unchanged: inferred, not verified
first_snapshot as (

    select * from rates
    where snapshot_number = 1

),

gateway_priced as (

    select
        *,
        cast(case dimension
            when 'input' then gateway_input_usd_per_unit
            when 'input_cache_read' then gateway_input_cache_read_usd_per_unit
            when 'input_cache_write' then gateway_input_cache_write_usd_per_unit
            when 'output' then gateway_output_usd_per_unit
            when 'request' then gateway_request_usd_per_unit
        end as decimal(38, 18)) as gateway_usd_per_unit
    from usage_in_time

),

priced as (

    select
        gateway_priced.*,
        coalesce(
            in_force.usd_per_unit, first_snapshot.usd_per_unit, gateway_priced.gateway_usd_per_unit
        ) as usd_per_unit,
        case
            when in_force.usd_per_unit is not null then in_force.rate_confidence
            -- assumed unchanged since before its capture: never stronger than inferred
            when
                first_snapshot.usd_per_unit is not null
                and first_snapshot.rate_confidence = 'verified'
                then 'inferred'
            -- the gateway's own ratios on the request: derived, not a captured price
            when
                first_snapshot.usd_per_unit is null
                and gateway_priced.gateway_usd_per_unit is not null
                then 'inferred'
            else 'unknown'
        end as rate_confidence,
        coalesce(in_force.source_url, first_snapshot.source_url) as rate_source_url,
        coalesce(in_force.captured_at, first_snapshot.captured_at) as rate_captured_at
    from gateway_priced
    -- the rate in force when the attempt was sent (joined here, not in a CTE of its own:
    -- a second reference to `usage_in_time` would materialise every priced row twice)
    {{ interval_in_force_join(
        'rates', 'in_force',
        'gateway_priced.priced_label = in_force.service_label'
        ~ ' and gateway_priced.dimension = in_force.dimension',
        'gateway_priced.sent_at'
    ) }}
    left join first_snapshot
        on
            gateway_priced.priced_label = first_snapshot.service_label
            and gateway_priced.dimension = first_snapshot.dimension
            and in_force.service_label is null
    -- a label billed per call has no token dimensions, unless its price lists them too
    where
        not gateway_priced.is_per_request_label
        or gateway_priced.dimension = 'request'
        or in_force.usd_per_unit is not null
        or first_snapshot.usd_per_unit is not null

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
        end as amount_confidence,
        change_anchor_at
    from priced

)

select * from final
