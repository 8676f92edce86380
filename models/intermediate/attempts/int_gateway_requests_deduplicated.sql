-- One row per request the gateway billed (consume log entries), the same request logged
-- twice (e.g. in a page and a CSV export) kept once, with the tokens it billed by
-- dimension and the exact, unrounded quota its own ratios give.
{{
    config(
        materialized=attempt_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['incremental_attempts'],
        pre_hook="{{ delete_changed_attempts() }}",
        meta={'test_scope': {'key': 'request_key', 'time': 'billed_at', 'kind': 'gateway_request'}},
    )
}}

-- depends_on: {{ ref('int_attempt_changes_detected') }}
{%- set consume_logs_changed -%}
    log_type_name = 'consume'
    and {{ changed_attempts_filter(
        'coalesce(cometapi_request_id, gateway_log_key)', 'billed_at', 'gateway_request'
    ) }}
{%- endset %}
with

logs as (

    select * from {{ ref('stg_gateway__logs') }}
    where {{ consume_logs_changed }}

),

-- the same rows again, keys and times only: a second reference to `logs` would make
-- the engine materialise the wide rows once more
log_copies as (

    select
        gateway_log_key,
        cometapi_request_id,
        record_shape,
        loaded_at,
        source_path,
        source_row_number
    from {{ ref('stg_gateway__logs') }}
    where {{ consume_logs_changed }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

-- the windows sort keys and times only, never the wide rows
ranked_copies as (

    select
        gateway_log_key,
        coalesce(cometapi_request_id, gateway_log_key) as request_key,
        count(*) over (
            partition by coalesce(cometapi_request_id, gateway_log_key)
        ) as copies_landed,
        row_number() over (
            partition by coalesce(cometapi_request_id, gateway_log_key)
            order by
                (record_shape = 'new_api_log') desc,
                loaded_at desc,
                source_path asc,
                source_row_number asc
        ) as copy_rank
    from log_copies

),

-- the copies not kept and the requests logged more than once
extra_copies as (

    select gateway_log_key
    from ranked_copies
    where copy_rank > 1

),

repeated_requests as (

    select
        request_key,
        copies_landed
    from ranked_copies
    where copy_rank = 1 and copies_landed > 1

),

kept as (

    select
        logs.*,
        coalesce(logs.cometapi_request_id, logs.gateway_log_key) as request_key,
        coalesce(repeated_requests.copies_landed, 1) as copies_landed
    from logs
    left join repeated_requests
        on coalesce(logs.cometapi_request_id, logs.gateway_log_key) = repeated_requests.request_key
    left join extra_copies on logs.gateway_log_key = extra_copies.gateway_log_key
    where extra_copies.gateway_log_key is null

),

tokens as (

    select
        kept.*,
        coalesce(aliases.service_label, kept.model_name) as billed_label,
        -- new-api semantics: OpenAI-style prompt tokens include cache reads and writes
        case
            when kept.usage_semantic = 'anthropic' then coalesce(kept.prompt_tokens, 0)
            else greatest(
                coalesce(kept.prompt_tokens, 0)
                - coalesce(kept.cache_tokens, 0)
                - coalesce(kept.cache_creation_tokens, 0),
                0
            )
        end as input_tokens,
        coalesce(kept.cache_tokens, 0) as cache_read_tokens,
        coalesce(kept.cache_creation_tokens, 0) as cache_write_tokens,
        coalesce(kept.completion_tokens, 0) as output_tokens,
        case
            when kept.is_usage_semantic_declared or kept.other_status = 'valid'
                then 'verified_from_server_log'
            else 'estimated'
        end as token_confidence
    from kept
    left join aliases on kept.model_name = aliases.alias

),

-- the gateway's ratios, once per distinct combination (a handful a day), not per row:
-- their exact forms and the quota one token of each dimension costs. Read from the logs
-- again, ratios only: a second reference to `tokens` would make the engine materialise it
ratio_combinations as (

    select distinct
        model_ratio,
        group_ratio,
        completion_ratio,
        cache_ratio,
        cache_creation_ratio,
        model_price_usd
    from {{ ref('stg_gateway__logs') }}
    where {{ consume_logs_changed }}

),

ratios_exact as (

    select
        *,
        cast(model_ratio as decimal(18, 8)) as model_ratio_exact,
        cast(group_ratio as decimal(18, 8)) as group_ratio_exact,
        cast(completion_ratio as decimal(18, 8)) as completion_ratio_exact,
        cast(cache_ratio as decimal(18, 8)) as cache_ratio_exact,
        cast(cache_creation_ratio as decimal(18, 8)) as cache_creation_ratio_exact
    from ratio_combinations

),

-- quota per token of each dimension, unrounded
quota_per_token as (

    select
        *,
        model_ratio_exact * group_ratio_exact as input_unrounded,
        cache_ratio_exact * model_ratio_exact * group_ratio_exact
            as cache_read_unrounded,
        cache_creation_ratio_exact * model_ratio_exact * group_ratio_exact
            as cache_write_unrounded,
        completion_ratio_exact * model_ratio_exact * group_ratio_exact
            as output_unrounded
    from ratios_exact

),

ratio_coefficients as (

    select
        *,
        coalesce(input_unrounded <> 0, false) as has_nonzero_ratios,
        cast(model_price_usd * 500000 * group_ratio_exact as decimal(38, 12)) as price_quota,
        -- no digit past the 12th decimal in any dimension's quota per token: each row's
        -- exact quota is then a sum of DECIMAL(38, 12) products, with nothing to round
        (
            coalesce(input_unrounded = cast(input_unrounded as decimal(38, 12)), true)
            and coalesce(cache_read_unrounded = cast(cache_read_unrounded as decimal(38, 12)), true)
            and coalesce(
                cache_write_unrounded = cast(cache_write_unrounded as decimal(38, 12)), true
            )
            and coalesce(output_unrounded = cast(output_unrounded as decimal(38, 12)), true)
        ) as has_quota_per_token_in_12_places,
        cast(input_unrounded as decimal(38, 12)) as input_quota_per_token,
        cast(cache_read_unrounded as decimal(38, 12)) as cache_read_quota_per_token,
        cast(cache_write_unrounded as decimal(38, 12)) as cache_write_quota_per_token,
        cast(output_unrounded as decimal(38, 12)) as output_quota_per_token
    from quota_per_token

),

ratios as (

    select
        tokens.*,
        ratio_coefficients.model_ratio_exact,
        ratio_coefficients.group_ratio_exact,
        ratio_coefficients.completion_ratio_exact,
        -- a dimension with no tokens costs nothing, whether or not its ratio was logged
        case
            when tokens.cache_read_tokens = 0 then coalesce(ratio_coefficients.cache_ratio_exact, 0)
            else ratio_coefficients.cache_ratio_exact
        end as cache_ratio_exact,
        case
            when tokens.cache_write_tokens = 0
                then coalesce(ratio_coefficients.cache_creation_ratio_exact, 0)
            else ratio_coefficients.cache_creation_ratio_exact
        end as cache_creation_ratio_exact,
        ratio_coefficients.has_nonzero_ratios,
        ratio_coefficients.price_quota,
        ratio_coefficients.has_quota_per_token_in_12_places,
        ratio_coefficients.input_quota_per_token,
        ratio_coefficients.cache_read_quota_per_token,
        ratio_coefficients.cache_write_quota_per_token,
        ratio_coefficients.output_quota_per_token
    from tokens
    inner join ratio_coefficients
        on
            tokens.model_ratio is not distinct from ratio_coefficients.model_ratio
            and tokens.group_ratio is not distinct from ratio_coefficients.group_ratio
            and tokens.completion_ratio is not distinct from ratio_coefficients.completion_ratio
            and tokens.cache_ratio is not distinct from ratio_coefficients.cache_ratio
            and tokens.cache_creation_ratio
            is not distinct from ratio_coefficients.cache_creation_ratio
            and tokens.model_price_usd is not distinct from ratio_coefficients.model_price_usd

),

exact as (

    select
        *,
        cast(
            case
                when model_price_usd is not null and group_ratio is not null then price_quota
                when has_quota_per_token_in_12_places
                    then
                        input_tokens * input_quota_per_token
                        + case
                            when cache_read_tokens = 0 then 0
                            else cache_read_tokens * cache_read_quota_per_token
                        end
                        + case
                            when cache_write_tokens = 0 then 0
                            else cache_write_tokens * cache_write_quota_per_token
                        end
                        + output_tokens * output_quota_per_token
                else
                    (
                        input_tokens
                        + cache_read_tokens * cache_ratio_exact
                        + cache_write_tokens * cache_creation_ratio_exact
                        + output_tokens * completion_ratio_exact
                    )
                    * model_ratio_exact
                    * group_ratio_exact
            end as decimal(38, 12)
        ) as exact_quota
    from ratios

),

final as (

    select
        gateway_log_key,
        request_key,
        cometapi_request_id,
        copies_landed,
        billed_at,
        model_name,
        upstream_model_name,
        billed_label,
        token_name,
        request_path,
        is_stream,
        use_time_seconds,
        total_ms,
        input_tokens,
        cache_read_tokens,
        cache_write_tokens,
        output_tokens,
        token_confidence,
        quota,
        quota_usd,
        model_price_usd,
        model_ratio_exact,
        group_ratio_exact,
        completion_ratio_exact,
        cache_ratio_exact,
        cache_creation_ratio_exact,
        exact_quota is not null as has_ratios,
        exact_quota,
        {{ quota_to_usd('1') }} * exact_quota as exact_quota_usd,
        coalesce(
            quota = 1 and round(exact_quota) <= 0 and has_nonzero_ratios, false
        ) as is_minimum_charge
    from exact

)

select * from final
