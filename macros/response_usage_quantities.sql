{#- The canonical billable quantities of an app attempt, read from the provider's usage
    object as its api format defines it (design.md, "Canonical billable dimensions"):
    input without cache reads, cache reads, cache writes, output with reasoning and
    thinking, and the reasoning part of that output. One comma-separated list of
    `expression as name`; `app` is the alias of an int_app_attempts_deduplicated row. -#}
{% macro response_usage_quantities(app, with_reasoning=false) -%}
    case {{ app }}.api_format
        when 'openai_chat'
            then {{ app }}.usage_prompt_tokens - coalesce({{ app }}.usage_prompt_cached_tokens, 0)
        when 'openai_responses'
            then {{ app }}.usage_input_tokens - coalesce({{ app }}.usage_input_cached_tokens, 0)
        when 'anthropic_messages' then {{ app }}.usage_input_tokens
        when 'gemini'
            then
                {{ app }}.usage_prompt_token_count
                - coalesce({{ app }}.usage_cached_content_token_count, 0)
    end as input_quantity,
    case {{ app }}.api_format
        when 'openai_chat' then coalesce({{ app }}.usage_prompt_cached_tokens, 0)
        when 'openai_responses' then coalesce({{ app }}.usage_input_cached_tokens, 0)
        when 'anthropic_messages' then coalesce({{ app }}.usage_cache_read_input_tokens, 0)
        when 'gemini' then coalesce({{ app }}.usage_cached_content_token_count, 0)
    end as input_cache_read_quantity,
    case {{ app }}.api_format
        when 'anthropic_messages' then coalesce({{ app }}.usage_cache_creation_input_tokens, 0)
        else 0
    end as input_cache_write_quantity,
    case {{ app }}.api_format
        when 'openai_chat' then {{ app }}.usage_completion_tokens
        when 'openai_responses' then {{ app }}.usage_output_tokens
        when 'anthropic_messages' then {{ app }}.usage_output_tokens
        when 'gemini'
            then
                coalesce({{ app }}.usage_candidates_token_count, 0)
                + coalesce({{ app }}.usage_thoughts_token_count, 0)
    end as output_quantity
    {%- if with_reasoning %},
    case {{ app }}.api_format
        when 'openai_chat' then coalesce({{ app }}.usage_completion_reasoning_tokens, 0)
        when 'openai_responses' then coalesce({{ app }}.usage_output_reasoning_tokens, 0)
        when 'gemini' then coalesce({{ app }}.usage_thoughts_token_count, 0)
        else 0
    end as reasoning_quantity
    {%- endif %}
{%- endmacro %}
