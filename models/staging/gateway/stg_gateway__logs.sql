with

source as (

    select * from {{ source('gateway', 'gateway_logs') }}
    where _superseded_by is null

),

renamed as (

    select
        ---------- keys
        {{ row_key() }} as gateway_log_key,
        request_id as cometapi_request_id,
        response_id,
        log_id_mod_1024,

        ---------- what and when
        created_at as billed_at,
        log_type,
        case log_type
            when 0 then 'unknown'
            when 1 then 'topup'
            when 2 then 'consume'
            when 3 then 'manage'
            when 4 then 'system'
            when 5 then 'error'
            when 6 then 'refund'
        end as log_type_name,
        model_name,
        upstream_model_name,
        coalesce(is_model_mapped, false) as is_model_mapped,
        token_name,
        user_id,
        group_name,
        channel_id,
        request_path,
        is_stream,
        record_shape,

        ---------- usage as the gateway counted it
        prompt_tokens,
        completion_tokens,
        cache_tokens,
        cache_creation_tokens,
        cache_creation_tokens_5m,
        cache_creation_tokens_1h,
        coalesce(usage_semantic, 'openai') as usage_semantic,
        usage_semantic is not null as is_usage_semantic_declared,

        ---------- charge
        quota,
        {{ quota_to_usd('quota') }} as quota_usd,
        reported_cost_usd,
        model_ratio,
        completion_ratio,
        group_ratio,
        cache_ratio,
        cache_creation_ratio,
        nullif(model_price, -1) as model_price_usd,
        user_group_ratio,
        reasoning_effort,

        ---------- timing and raw detail
        use_time_seconds,
        first_response_ms,
        total_ms,
        other_status,
        other_extra_json,
        content as content_redacted,

        ---------- provenance
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at

    from source

)

select * from renamed
