-- The checklist's "Contract details to verify", filled from evidence: one row per incident
-- × contract item with the documented value (the latest contract snapshot), the value
-- observed in the incident's landed logs, whether they agree, why it matters and the
-- variance cause a disagreement can explain. status: agrees, disagrees, not_observed
-- (documented but never seen in the window) or assumption (the contract is silent).
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

app_attempts as (

    select * from {{ ref('int_incident_app_attempts_windowed') }}

),

attributed as (

    select * from {{ ref('int_incident_attempts_attributed') }}

),

all_gateway as (

    select * from {{ ref('int_gateway_requests_deduplicated') }}

),

contracts as (

    select * from {{ ref('stg_contracts__api_contracts') }}
    qualify row_number() over (order by captured_at desc, source_path desc) = 1

),

endpoints as (

    select endpoints.*
    from {{ ref('stg_contracts__endpoints') }} as endpoints
    inner join contracts on endpoints.contract_captured_at = contracts.captured_at

),

items as (

    select * from {{ ref('contract_items') }}

),

-- the gateway's records billed inside the incidents' span (the scan skips the rest of the
-- history)
gateway as (

    select *
    from all_gateway
    where {{ within_incident_span('billed_at') }}

),

-- the attempts share a handful of shapes (request header names, request field names,
-- response usage structure): each shape is counted, then unnested once, not per attempt
attempt_shapes as (

    select
        incident_id,
        api_format,
        request_header_names,
        request_field_names,
        has_usage,
        usage_structure_json,
        count(*) as attempts
    from app_attempts
    group by all

),

---------- endpoint paths

documented_paths as (

    select
        endpoint_path,
        api_format,
        '^' || replace(
            {{ regex_replace_all('endpoint_path', "'\\{[^}]+\\}'", "'[^/:]+'") }}, '.', '\.'
        )
        || '$' as path_pattern,
        request_fields,
        response_usage_fields
    from endpoints

),

-- the paths the application called, query strings left out: `?alt=sse` is the same path,
-- and a query string can carry a credential (`?key=...`) that must not be shown
observed_paths as (

    select
        incident_id,
        split_part(endpoint, '?', 1) as observed_path,
        split_part(endpoint, '?', 1) as path_only,
        count(*) as attempts
    from app_attempts
    group by incident_id, split_part(endpoint, '?', 1)

),

path_rows as (

    select
        coalesce(observed.incident_id, incidents.incident_id) as incident_id,
        'endpoint_path' as item_kind,
        coalesce(documented.endpoint_path, observed.observed_path) as item,
        documented.endpoint_path as documented_value,
        observed.observed_path as observed_value,
        coalesce(observed.attempts, 0) as evidence_count,
        case
            when documented.endpoint_path is null then 'disagrees'
            when observed.observed_path is null then 'not_observed'
            else 'agrees'
        end as status
    from incidents
    cross join documented_paths as documented
    full outer join observed_paths as observed
        on
            incidents.incident_id = observed.incident_id
            and {{ regex_matches('observed.path_only', 'documented.path_pattern') }}

),

---------- auth headers and credentials

auth_header_names as (

    select * from (values ('authorization'), ('x-api-key'), ('x-goog-api-key'), ('api-key'))
        as names (header_name)

),

documented_auth as (

    select
        endpoints.api_format,
        lower(contracts.auth_header) as header_name
    from endpoints
    cross join contracts
    union
    select
        endpoints.api_format,
        lower(alternatives.header_name) as header_name
    from endpoints
    cross join contracts
    cross join {{ lateral_unnest(
        json_array(json_at(
            'contracts.document_json',
            "'$.endpoints[' || (endpoints.source_row_number - 1) || '].auth_header_alternatives'"
        ), 'string'),
        'alternatives', 'header_name'
    ) }}

),

observed_auth as (

    select
        attempt_shapes.incident_id,
        attempt_shapes.api_format,
        header.header_name,
        sum(attempt_shapes.attempts) as attempts
    from attempt_shapes
    cross join {{ lateral_unnest('attempt_shapes.request_header_names', 'header', 'header_name') }}
    inner join auth_header_names on header.header_name = auth_header_names.header_name
    group by all

),

documented_auth_names as (

    select
        api_format,
        {{ ordered_string_agg('header_name', "' or '", 'header_name', distinct=true) }}
            as header_names
    from documented_auth
    group by api_format

),

auth_rows as (

    select
        observed_auth.incident_id,
        'auth_header' as item_kind,
        observed_auth.api_format || ': ' || observed_auth.header_name as item,
        documented_auth_names.header_names as documented_value,
        observed_auth.header_name as observed_value,
        observed_auth.attempts as evidence_count,
        case when documented_auth.header_name is null then 'disagrees' else 'agrees' end
            as status
    from observed_auth
    left join documented_auth_names
        on observed_auth.api_format = documented_auth_names.api_format
    left join documented_auth
        on
            observed_auth.api_format = documented_auth.api_format
            and observed_auth.header_name = documented_auth.header_name

),

gateway_tokens as (

    select
        incidents.incident_id,
        count(distinct gateway.token_name) as token_names
    from incidents
    left join gateway
        on
            gateway.billed_at >= incidents.window_start
            and gateway.billed_at < incidents.window_end
    group by incidents.incident_id

),

credential_rows as (

    select
        incidents.incident_id,
        'active_credentials' as item_kind,
        'distinct API keys and gateway tokens' as item,
        'one key per account or project (' || any_value(contracts.auth_scheme) || ')'
            as documented_value,
        count(distinct app_attempts.credential_fingerprint) || ' distinct API keys (salted hashes)'
        || ', ' || any_value(gateway_tokens.token_names) || ' gateway token names'
            as observed_value,
        count(distinct app_attempts.credential_fingerprint) as evidence_count,
        'assumption' as status
    from incidents
    cross join contracts
    left join app_attempts on incidents.incident_id = app_attempts.incident_id
    left join gateway_tokens on incidents.incident_id = gateway_tokens.incident_id
    group by incidents.incident_id

),

---------- request fields

observed_fields as (

    select
        attempt_shapes.incident_id,
        attempt_shapes.api_format,
        field.field_name,
        sum(attempt_shapes.attempts) as attempts
    from attempt_shapes
    cross join {{ lateral_unnest('attempt_shapes.request_field_names', 'field', 'field_name') }}
    group by all

),

documented_fields as (

    select distinct
        documented_paths.api_format,
        split_part(request_field.field_path, '.', 1) as field_name
    from documented_paths
    cross join {{ lateral_unnest(
        'documented_paths.request_fields', 'request_field', 'field_path'
    ) }}

),

field_rows as (

    {{ documented_against_observed(
        'request_field', 'documented_fields', 'observed_fields', 'field_name'
    ) }}

),

---------- response usage fields

usage_roots as (

    select
        incident_id,
        api_format,
        usage_structure_json,
        case when api_format = 'gemini' then 'usageMetadata' else 'usage' end as root,
        sum(attempts) as attempts
    from attempt_shapes
    where has_usage
    group by all

),

usage_top as (

    select
        usage_roots.incident_id,
        usage_roots.api_format,
        usage_roots.root,
        usage_roots.usage_structure_json,
        usage_roots.attempts,
        top_key.key_1
    from usage_roots
    cross join {{ lateral_unnest(
        json_object_keys('usage_roots.usage_structure_json'), 'top_key', 'key_1'
    ) }}

),

usage_paths as (

    select
        incident_id,
        api_format,
        root || '.' || key_1 as field_path,
        attempts,
        {{ json_member_is_object('usage_structure_json', 'key_1') }} as is_object,
        {{ json_member('usage_structure_json', 'key_1') }} as nested
    from usage_top

),

nested_paths as (

    select
        usage_paths.incident_id,
        usage_paths.api_format,
        usage_paths.field_path || '.' || nested_key.key_2 as field_path,
        usage_paths.attempts
    from usage_paths
    cross join {{ lateral_unnest(json_object_keys('usage_paths.nested'), 'nested_key', 'key_2') }}
    where usage_paths.is_object

),

observed_usage as (

    select
        incident_id,
        api_format,
        field_path,
        sum(attempts) as attempts
    from usage_paths
    where not is_object
    group by all
    union all
    select
        incident_id,
        api_format,
        field_path,
        sum(attempts) as attempts
    from nested_paths
    group by all

),

observed_usage_fields as (

    select
        incident_id,
        api_format,
        field_path,
        sum(attempts) as attempts
    from observed_usage
    group by all

),

documented_usage as (

    select distinct
        documented_paths.api_format,
        usage_field.field_path
    from documented_paths
    cross join {{ lateral_unnest(
        'documented_paths.response_usage_fields', 'usage_field', 'field_path'
    ) }}

),

usage_rows as (

    {{ documented_against_observed(
        'response_usage_field', 'documented_usage', 'observed_usage_fields', 'field_path'
    ) }}

),

---------- error behaviour

documented_envelope as (

    select
        array_sort(array_distinct(
            {{ list_of(["'error'"]) }}
            || {{ prefix_each(
                json_object_keys(json_at('error_shape_json', "'$.error'")), "'error.'"
            ) }}
        )) as envelope
    from contracts

),

observed_envelopes as (

    select
        app_attempts.incident_id,
        array_sort(app_attempts.error_shape) as envelope,
        count(*) as attempts
    from app_attempts
    where app_attempts.http_status >= 400 and app_attempts.error_shape is not null
    group by all

),

envelope_rows as (

    select
        observed.incident_id,
        'error_envelope' as item_kind,
        'error body of HTTP error responses' as item,
        {{ join_list('documented.envelope', "', '") }} as documented_value,
        {{ join_list('observed.envelope', "', '") }} as observed_value,
        observed.attempts as evidence_count,
        case when observed.envelope = documented.envelope then 'agrees' else 'disagrees' end
            as status
    from observed_envelopes as observed
    cross join documented_envelope as documented

),

status_retries as (

    select
        incident_id,
        http_status,
        count(*) as attempts,
        count(*) filter (where not is_last_attempt) as retried
    from app_attempts
    where http_status >= 400
    group by all

),

retry_rows as (

    select
        status_retries.incident_id,
        'retry_policy' as item_kind,
        'HTTP ' || status_retries.http_status as item,
        case
            when array_contains(contracts.retryable_statuses, status_retries.http_status)
                then 'retryable'
            when array_contains(contracts.non_retryable_statuses, status_retries.http_status)
                then 'not retryable'
            else 'not documented'
        end as documented_value,
        status_retries.retried || ' of ' || status_retries.attempts || ' retried'
            as observed_value,
        status_retries.attempts as evidence_count,
        case
            when
                array_contains(contracts.non_retryable_statuses, status_retries.http_status)
                and status_retries.retried > 0
                then 'disagrees'
            when
                array_contains(contracts.retryable_statuses, status_retries.http_status)
                and status_retries.retried = 0
                then 'disagrees'
            when
                array_contains(contracts.retryable_statuses, status_retries.http_status)
                or array_contains(contracts.non_retryable_statuses, status_retries.http_status)
                then 'agrees'
            else 'assumption'
        end as status
    from status_retries
    cross join contracts

),

timeout_rows as (

    select
        incident_id,
        'retry_policy' as item_kind,
        'client timeouts (no HTTP status)' as item,
        'not documented' as documented_value,
        count(*) filter (where not is_last_attempt) || ' of ' || count(*) || ' retried'
            as observed_value,
        count(*) as evidence_count,
        'assumption' as status
    from app_attempts
    where http_status is null and error_type is not null
    group by incident_id

),

---------- billing assumptions the contract is silent on

failed_billed as (

    select
        attributed.incident_id,
        count(*) as attempts
    from attributed
    where attributed.is_billed_in_window and not attributed.is_successful_attempt
    group by attributed.incident_id

),

gateway_in_window as (

    select
        incidents.incident_id,
        count(*) filter (where gateway.is_minimum_charge) as minimum_charge_rows,
        count(*) as gateway_rows,
        {{ ordered_string_agg(
            'cast(gateway.group_ratio_exact as string)', "', '",
            'cast(gateway.group_ratio_exact as string)',
            distinct=true
        ) }} as group_ratios,
        count(*) filter (where gateway.group_ratio_exact <> 1) as other_group_ratio_rows
    from incidents
    inner join gateway
        on
            gateway.billed_at >= incidents.window_start
            and gateway.billed_at < incidents.window_end
    group by incidents.incident_id

),

billing_rows as (

    select
        incidents.incident_id,
        'billing_assumption' as item_kind,
        assumptions.item,
        'not documented' as documented_value,
        assumptions.observed_value,
        assumptions.evidence_count,
        'assumption' as status
    from incidents
    left join failed_billed on incidents.incident_id = failed_billed.incident_id
    left join gateway_in_window on incidents.incident_id = gateway_in_window.incident_id
    -- one row per assumption, from the same joined row
    cross join lateral (  -- noqa: ST05
        select
            'failed or timed-out attempts are billed' as item,
            coalesce(failed_billed.attempts, 0)
            || ' billed attempts without a successful response to the client' as observed_value,
            coalesce(failed_billed.attempts, 0) as evidence_count
        union all
        select
            'per-request rounding and minimum charge' as item,
            coalesce(gateway_in_window.minimum_charge_rows, 0) || ' minimum-charge rows of '
            || coalesce(gateway_in_window.gateway_rows, 0) || ' gateway rows' as observed_value,
            coalesce(gateway_in_window.gateway_rows, 0) as evidence_count
        union all
        select
            'account-specific multiplier (group ratio)' as item,
            'group ratio ' || coalesce(gateway_in_window.group_ratios, 'none') as observed_value,
            coalesce(gateway_in_window.other_group_ratio_rows, 0) as evidence_count
    ) as assumptions

),

---------- together, with why each matters and the cause a disagreement can explain

unioned as (

    select * from path_rows
    union all
    select * from auth_rows
    union all
    select * from credential_rows
    union all
    select * from field_rows
    union all
    select * from usage_rows
    union all
    select * from envelope_rows
    union all
    select * from retry_rows
    union all
    select * from timeout_rows
    union all
    select * from billing_rows

),

final as (

    select
        md5(unioned.incident_id || ':' || unioned.item_kind || ':' || unioned.item)
            as contract_check_key,
        unioned.incident_id,
        items.contract_item,
        unioned.item_kind,
        unioned.item,
        unioned.documented_value,
        unioned.observed_value,
        cast(unioned.evidence_count as bigint) as evidence_count,
        unioned.status,
        items.why_it_matters,
        case
            when unioned.status not in ('disagrees', 'assumption') then null
            when unioned.item_kind = 'response_usage_field' and unioned.item not ilike '%cache%'
                then 'other_parser_mistake'
            when unioned.item_kind = 'billing_assumption' and unioned.item like 'failed%'
                then 'retry_amplification'
            when unioned.item_kind = 'billing_assumption' and unioned.item like '%rounding%'
                then 'minimum_charge'
            else items.linked_cause
        end as linked_cause,
        items.source_to_check,
        cast(items.item_order as integer) as item_order
    from unioned
    inner join items on unioned.item_kind = items.item_kind

)

select * from final
