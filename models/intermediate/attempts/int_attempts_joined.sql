-- Every attempt in our evidence, app log and gateway log joined on the CometAPI request
-- id (never the gateway log id): app attempts with or without a gateway row, and
-- requests only the gateway saw. Says when each was sent and billed, and why a billed
-- attempt is missing from the ledger (the usage capture gap).
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

app as (

    select * from {{ ref('int_app_attempts_deduplicated') }}
    where {{ changed_attempts_filter('logical_request_id', 'sent_at', 'joined_request') }}

),

gateway as (

    select * from {{ ref('int_gateway_requests_deduplicated') }}
    where {{ changed_attempts_filter('request_key', 'billed_at', 'joined_gateway_request') }}

),

joined as (

    select
        app.attempt_key as app_attempt_key,
        gateway.gateway_log_key,
        coalesce(app.cometapi_request_id, gateway.cometapi_request_id) as cometapi_request_id,
        coalesce(
            app.logical_request_id,
            'gateway:' || coalesce(gateway.cometapi_request_id, gateway.gateway_log_key)
        ) as logical_request_id,
        coalesce(app.attempt_number, 1) as attempt_number,
        coalesce(app.attempts_in_request, 1) as attempts_in_request,
        app.attempt_key is not null as has_app_record,
        gateway.gateway_log_key is not null as has_gateway_record,
        coalesce(app.service_label, gateway.billed_label) as service_label,
        gateway.billed_label,
        gateway.upstream_model_name,
        app.api_format,
        app.endpoint,
        gateway.request_path,
        app.tenant,
        gateway.token_name,
        coalesce(app.is_stream, gateway.is_stream) as is_stream,
        coalesce(app.is_client_disconnected, false) as is_client_disconnected,
        coalesce(app.has_usage, false) as has_app_usage,
        coalesce(app.is_successful_attempt, false) as is_successful_attempt,
        coalesce(app.is_last_attempt, true) as is_last_attempt,
        coalesce(app.is_final_success, false) as is_ledgered_attempt,
        app.http_status,
        app.request_first_sent_at,

        ---------- when: our evidence by send time, the provider's by billing time
        coalesce(
            app.sent_at,
            gateway.billed_at
            - {{ interval_of(
                'coalesce(gateway.total_ms, gateway.use_time_seconds * 1000, 0)', 'millisecond'
            ) }}
        ) as sent_at,
        case
            when app.sent_at is not null then 'app_log'
            when gateway.total_ms is not null or gateway.use_time_seconds is not null
                then 'gateway_billed_at_minus_duration'
            else 'gateway_billed_at'
        end as sent_at_source,
        coalesce(gateway.billed_at, case when app.has_usage then app.completed_at end)
            as billed_at,
        case
            when gateway.billed_at is not null then 'gateway_log'
            when app.has_usage then 'app_completed_at'
        end as billed_at_source,

        ---------- whether the gateway logged the ratios it charged by (the charge itself
        ---------- is in int_gateway_requests_deduplicated, one gateway_log_key away)
        coalesce(gateway.has_ratios, false) as has_gateway_ratios,
        -- a landed time of the request's own rows: where incremental builds find it again
        coalesce(app.sent_at, gateway.billed_at) as change_anchor_at
    from app
    full outer join gateway
        on app.cometapi_request_id = gateway.cometapi_request_id

),

classified as (

    select
        *,
        has_gateway_record or has_app_usage as is_billed,
        case
            when not (has_gateway_record or has_app_usage) then 'not_billed'
            when is_ledgered_attempt then 'ledgered'
            when not has_app_record then 'untracked_job'
            -- a billed attempt of a request that was sent more than once
            when attempts_in_request > 1 then 'retry_amplification'
            when is_client_disconnected then 'stream_after_disconnect'
            else 'other_unledgered_attempt'
        end as capture_status
    from joined
    {% if is_incremental_build() -%}
        -- only the requests being rebuilt; a gateway row whose app attempt is not being
        -- rebuilt stays joined to it, never a gateway-only request of its own (looked up
        -- among the app attempts holding a rebuilt gateway row's id, not all of them)
        where
            {{ changed_attempts_filter('logical_request_id', none, 'joined_request') }}
            and (
                has_app_record
                or cometapi_request_id is null
                or cometapi_request_id not in (
                    select all_app.cometapi_request_id
                    from {{ ref('int_app_attempts_deduplicated') }} as all_app
                    where
                        {{ in_request_ids_and_their_range(
                            'all_app.cometapi_request_id', 'gateway', 'cometapi_request_id'
                        ) }}
                )
            )
    {%- endif %}

)

select
    coalesce(app_attempt_key, 'gateway:' || gateway_log_key) as attempt_key,
    *
from classified
