-- One row per application attempt (logical request × attempt number), the same attempt
-- landed twice kept once, with its retry chain and its service label.
{{
    config(
        materialized=attempt_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['incremental_attempts'],
        pre_hook="{{ delete_changed_attempts() }}",
        meta={'test_scope': {'key': 'logical_request_id', 'time': 'sent_at', 'kind': 'app_request'}},
    )
}}

-- depends_on: {{ ref('int_attempt_changes_detected') }}
with

-- the wide rows of the change list's time span: the inner join to `request_chains`
-- (built from the narrow copies below) keeps the changed requests' rows
attempts as (

    select * from {{ ref('stg_app__request_attempts') }}
    where {{ changed_attempts_span_filter('sent_at', 'app_request') }}

),

-- the changed requests' rows, keys and times only: a second reference to `attempts`
-- would make the engine materialise the wide rows once more
attempt_copies as (

    select
        attempt_key,
        logical_request_id,
        attempt_number,
        sent_at,
        is_successful_attempt,
        loaded_at,
        source_path,
        source_row_number
    from {{ ref('stg_app__request_attempts') }}
    where {{ changed_attempts_filter('logical_request_id', 'sent_at', 'app_request') }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

-- the windows sort keys and times only, never the wide rows
ranked_copies as (

    select
        attempt_key,
        logical_request_id,
        attempt_number,
        sent_at,
        is_successful_attempt,
        count(*) over (
            partition by logical_request_id, attempt_number
        ) as copies_landed,
        row_number() over (
            partition by logical_request_id, attempt_number
            order by loaded_at desc, source_path asc, source_row_number asc
        ) as copy_rank
    from attempt_copies

),

-- the copies not kept (usually none) and the attempts landed more than once
extra_copies as (

    select attempt_key
    from ranked_copies
    where copy_rank > 1

),

repeated_attempts as (

    select
        logical_request_id,
        attempt_number,
        copies_landed
    from ranked_copies
    where copy_rank = 1 and copies_landed > 1

),

request_chains as (

    select
        logical_request_id,
        count(*) as attempts_in_request,
        max(attempt_number) as last_attempt_number,
        max(case when is_successful_attempt then attempt_number end)
            as final_success_attempt_number,
        min(sent_at) as request_first_sent_at
    from ranked_copies
    where copy_rank = 1
    group by logical_request_id

),

labelled as (

    select
        attempts.*,
        coalesce(repeated_attempts.copies_landed, 1) as copies_landed,
        coalesce(aliases.service_label, attempts.requested_model) as service_label,
        request_chains.attempts_in_request,
        request_chains.last_attempt_number,
        request_chains.final_success_attempt_number,
        request_chains.request_first_sent_at
    from attempts
    inner join request_chains
        on attempts.logical_request_id = request_chains.logical_request_id
    left join repeated_attempts
        on
            attempts.logical_request_id = repeated_attempts.logical_request_id
            and attempts.attempt_number = repeated_attempts.attempt_number
    left join extra_copies on attempts.attempt_key = extra_copies.attempt_key
    left join aliases on attempts.requested_model = aliases.alias
    where extra_copies.attempt_key is null

),

-- the columns the attempt models and reports read (and the reasoning tokens, which the
-- output counts already hold): the rest (where a row was landed from, the usage counts
-- no dimension is priced on, error text) stays in staging, one attempt_key away, instead
-- of being written again per attempt
final as (

    select
        attempt_key,
        logical_request_id,
        attempt_number,
        cometapi_request_id,
        sent_at,
        sent_at_offset,
        completed_at,
        completed_at_offset,
        endpoint,
        api_format,
        requested_model,
        service_label,
        tenant,
        http_status,
        is_stream,
        is_client_disconnected,
        is_successful_attempt,
        usage_structure_json,
        has_usage,
        usage_prompt_tokens,
        usage_completion_tokens,
        usage_prompt_cached_tokens,
        usage_completion_reasoning_tokens,
        usage_input_tokens,
        usage_output_tokens,
        usage_input_cached_tokens,
        usage_output_reasoning_tokens,
        usage_cache_creation_input_tokens,
        usage_cache_read_input_tokens,
        usage_prompt_token_count,
        usage_cached_content_token_count,
        usage_candidates_token_count,
        usage_thoughts_token_count,
        error_type,
        error_shape,
        request_header_names,
        request_field_names,
        credential_fingerprint,
        payload_fingerprint,
        copies_landed,
        attempts_in_request,
        last_attempt_number,
        final_success_attempt_number,
        request_first_sent_at,
        attempt_number = last_attempt_number as is_last_attempt,
        coalesce(attempt_number = final_success_attempt_number, false) as is_final_success
    from labelled

)

select * from final
