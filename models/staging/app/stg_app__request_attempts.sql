with

source as (

    select * from {{ source('app', 'app_requests') }}
    where _superseded_by is null

),

renamed as (

    select
        ---------- keys
        {{ row_key() }} as attempt_key,
        request_id as logical_request_id,
        attempt as attempt_number,
        cometapi_request_id,

        ---------- when (UTC, with the offset the log was written in)
        sent_at,
        sent_at_offset,
        completed_at,
        completed_at_offset,

        ---------- what
        endpoint,
        api_format,
        model as requested_model,
        tenant,
        http_status,
        coalesce(is_stream, false) as is_stream,
        coalesce(client_disconnected, false) as is_client_disconnected,
        -- answered with usage and not abandoned by the client
        coalesce(http_status between 200 and 299, false)
        and usage_structure_json is not null
        and not coalesce(client_disconnected, false) as is_successful_attempt,

        ---------- usage object: its structure (keys, no values) and its counts
        usage_structure_json,
        usage_shape,
        usage_structure_json is not null as has_usage,
        usage_prompt_tokens,
        usage_completion_tokens,
        usage_total_tokens,
        usage_prompt_cached_tokens,
        usage_prompt_audio_tokens,
        usage_completion_reasoning_tokens,
        usage_input_tokens,
        usage_output_tokens,
        usage_input_cached_tokens,
        usage_output_reasoning_tokens,
        usage_cache_creation_input_tokens,
        usage_cache_read_input_tokens,
        usage_cache_creation_5m_tokens,
        usage_cache_creation_1h_tokens,
        usage_prompt_token_count,
        usage_cached_content_token_count,
        usage_candidates_token_count,
        usage_thoughts_token_count,
        usage_tool_use_prompt_token_count,
        usage_total_token_count,

        ---------- error envelope
        error_type,
        error_code,
        error_message as error_message_redacted,
        error_shape,

        ---------- fingerprints and names, never values
        request_header_names,
        request_field_names,
        credential_fingerprint,
        payload_fingerprint,

        ---------- provenance
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
