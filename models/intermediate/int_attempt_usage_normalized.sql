-- Usage of every billable attempt in canonical billable dimensions, one row per attempt
-- × dimension, never collapsed into "tokens". The app's own response usage wins
-- (verified_from_response); without it the gateway's token counts are used
-- (verified_from_server_log, or estimated when the gateway's semantics are unknown).
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

per_request_labels as (

    -- labels the catalog prices per call: each billed attempt is one `request` unit
    select distinct service_label
    from {{ ref('int_catalog_rates_intervals') }}
    where dimension = 'request' and published_rate is not null

),

from_response as (

    select
        attempts.attempt_key,
        case app.api_format
            when 'openai_chat'
                then app.usage_prompt_tokens - coalesce(app.usage_prompt_cached_tokens, 0)
            when 'openai_responses'
                then app.usage_input_tokens - coalesce(app.usage_input_cached_tokens, 0)
            when 'anthropic_messages' then app.usage_input_tokens
            when 'gemini'
                then
                    app.usage_prompt_token_count
                    - coalesce(app.usage_cached_content_token_count, 0)
        end as input_quantity,
        case app.api_format
            when 'openai_chat' then coalesce(app.usage_prompt_cached_tokens, 0)
            when 'openai_responses' then coalesce(app.usage_input_cached_tokens, 0)
            when 'anthropic_messages' then coalesce(app.usage_cache_read_input_tokens, 0)
            when 'gemini' then coalesce(app.usage_cached_content_token_count, 0)
        end as input_cache_read_quantity,
        case app.api_format
            when 'anthropic_messages' then coalesce(app.usage_cache_creation_input_tokens, 0)
            else 0
        end as input_cache_write_quantity,
        case app.api_format
            when 'openai_chat' then app.usage_completion_tokens
            when 'openai_responses' then app.usage_output_tokens
            when 'anthropic_messages' then app.usage_output_tokens
            when 'gemini'
                then
                    coalesce(app.usage_candidates_token_count, 0)
                    + coalesce(app.usage_thoughts_token_count, 0)
        end as output_quantity,
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
        attempts.change_anchor_at,
        case when per_request_labels.service_label is not null then 1 else 0 end
            as request_quantity
    from usage_by_source
    inner join attempts on usage_by_source.attempt_key = attempts.attempt_key
    left join per_request_labels
        on
            coalesce(attempts.billed_label, attempts.service_label)
            = per_request_labels.service_label

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

final as (

    select
        attempt_key || ':' || dimension as attempt_dimension_key,
        attempt_key,
        logical_request_id,
        change_anchor_at,
        dimension,
        cast(quantity as bigint) as quantity,
        case when quantity is null then 'unavailable' else quantity_confidence end
            as quantity_confidence
    from unpivoted
    where quantity is null or quantity <> 0

)

select * from final
