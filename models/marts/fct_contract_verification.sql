-- The checklist's "Contract details to verify", filled from evidence: one row per incident
-- × contract item with the documented value (the latest contract snapshot), the value
-- observed in the incident's landed logs, whether they agree, why it matters and the
-- variance cause a disagreement can explain. status: agrees, disagrees, not_observed
-- (documented but never seen in the window) or assumption (the contract is silent).
with

incidents as (

    select * from {{ ref('dim_incident_windows') }}

),

app_attempts as (

    select * from {{ ref('int_incident_app_attempts_windowed') }}

),

attributed as (

    select * from {{ ref('int_incident_attempts_attributed') }}

),

joined as (

    select * from {{ ref('int_attempts_joined') }}

),

gateway as (

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

---------- endpoint paths

documented_paths as (

    select
        endpoint_path,
        api_format,
        '^' || replace(regexp_replace(endpoint_path, '\{[^}]+\}', '[^/:]+', 'g'), '.', '\.')
        || '$' as path_pattern,
        request_fields,
        response_usage_fields
    from endpoints

),

observed_paths as (

    select
        incident_id,
        endpoint as observed_path,
        split_part(endpoint, '?', 1) as path_only,
        count(*) as attempts
    from app_attempts
    group by all

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
            and regexp_matches(observed.path_only, documented.path_pattern)

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
        lower(unnest(cast(json_extract(
            contracts.document_json,
            '$.endpoints[' || (endpoints.source_row_number - 1) || '].auth_header_alternatives'
        ) as varchar[]))) as header_name
    from endpoints
    cross join contracts

),

observed_auth as (

    select
        app_attempts.incident_id,
        app_attempts.api_format,
        header.header_name,
        count(*) as attempts
    from app_attempts
    cross join unnest(app_attempts.request_header_names) as header (header_name)
    inner join auth_header_names on header.header_name = auth_header_names.header_name
    group by all

),

documented_auth_names as (

    select
        api_format,
        string_agg(distinct header_name, ' or ' order by header_name) as header_names
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

credential_rows as (

    select
        incidents.incident_id,
        'active_credentials' as item_kind,
        'distinct API keys and gateway tokens' as item,
        'one key per account or project (' || any_value(contracts.auth_scheme) || ')'
            as documented_value,
        count(distinct app_attempts.credential_fingerprint) || ' distinct API keys (salted hashes)'
        || ', ' || (
            select count(distinct gateway.token_name)
            from gateway
            where
                gateway.billed_at >= incidents.window_start
                and gateway.billed_at < incidents.window_end
        ) || ' gateway token names' as observed_value,
        count(distinct app_attempts.credential_fingerprint) as evidence_count,
        'assumption' as status
    from incidents
    cross join contracts
    left join app_attempts on incidents.incident_id = app_attempts.incident_id
    group by incidents.incident_id, incidents.window_start, incidents.window_end

),

---------- request fields

observed_fields as (

    select
        app_attempts.incident_id,
        app_attempts.api_format,
        field.field_name,
        count(*) as attempts
    from app_attempts
    cross join unnest(app_attempts.request_field_names) as field (field_name)
    group by all

),

documented_fields as (

    select distinct
        api_format,
        split_part(unnest(request_fields), '.', 1) as field_name
    from documented_paths

),

field_rows as (

    {{ documented_against_observed(
        'request_field', 'documented_fields', 'observed_fields', 'field_name'
    ) }}

),

---------- response usage fields

usage_roots as (

    select
        app_attempts.incident_id,
        app_attempts.api_format,
        app_attempts.usage_json,
        case when app_attempts.api_format = 'gemini' then 'usageMetadata' else 'usage' end
            as root
    from app_attempts
    where app_attempts.has_usage

),

usage_top as (

    select
        incident_id,
        api_format,
        root,
        usage_json,
        unnest(json_keys(usage_json)) as key_1
    from usage_roots

),

usage_paths as (

    select
        incident_id,
        api_format,
        root || '.' || key_1 as field_path,
        json_type(usage_json, '$."' || key_1 || '"') = 'OBJECT' as is_object,
        usage_json -> ('$."' || key_1 || '"') as nested
    from usage_top

),

nested_paths as (

    select
        incident_id,
        api_format,
        field_path || '.' || unnest(json_keys(nested)) as field_path
    from usage_paths
    where is_object

),

observed_usage as (

    select
        incident_id,
        api_format,
        field_path,
        count(*) as attempts
    from usage_paths
    where not is_object
    group by all
    union all
    select
        incident_id,
        api_format,
        field_path,
        count(*) as attempts
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
        api_format,
        unnest(response_usage_fields) as field_path
    from documented_paths

),

usage_rows as (

    {{ documented_against_observed(
        'response_usage_field', 'documented_usage', 'observed_usage_fields', 'field_path'
    ) }}

),

---------- error behaviour

documented_envelope as (

    select
        list_sort(list_distinct(
            ['error'] || list_transform(
                json_keys(error_shape_json, '$.error'), lambda key: 'error.' || key
            )
        )) as envelope
    from contracts

),

observed_envelopes as (

    select
        app_attempts.incident_id,
        list_sort(app_attempts.error_shape) as envelope,
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
        array_to_string(documented.envelope, ', ') as documented_value,
        array_to_string(observed.envelope, ', ') as observed_value,
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
            when list_contains(contracts.retryable_statuses, status_retries.http_status)
                then 'retryable'
            when list_contains(contracts.non_retryable_statuses, status_retries.http_status)
                then 'not retryable'
            else 'not documented'
        end as documented_value,
        status_retries.retried || ' of ' || status_retries.attempts || ' retried'
            as observed_value,
        status_retries.attempts as evidence_count,
        case
            when
                list_contains(contracts.non_retryable_statuses, status_retries.http_status)
                and status_retries.retried > 0
                then 'disagrees'
            when
                list_contains(contracts.retryable_statuses, status_retries.http_status)
                and status_retries.retried = 0
                then 'disagrees'
            when
                list_contains(contracts.retryable_statuses, status_retries.http_status)
                or list_contains(contracts.non_retryable_statuses, status_retries.http_status)
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
    cross join lateral (
        values
        (
            'failed or timed-out attempts are billed',
            (
                select count(*) || ' billed attempts without a successful response to the client'
                from attributed
                inner join joined on attributed.attempt_key = joined.attempt_key
                where
                    attributed.incident_id = incidents.incident_id
                    and attributed.is_billed_in_window
                    and not coalesce(joined.is_successful_attempt, false)
            ),
            (
                select count(*)
                from attributed
                inner join joined on attributed.attempt_key = joined.attempt_key
                where
                    attributed.incident_id = incidents.incident_id
                    and attributed.is_billed_in_window
                    and not coalesce(joined.is_successful_attempt, false)
            )
        ),
        (
            'per-request rounding and minimum charge',
            (
                select
                    count(*) filter (where gateway.is_minimum_charge) || ' minimum-charge rows of '
                    || count(*) || ' gateway rows'
                from gateway
                where
                    gateway.billed_at >= incidents.window_start
                    and gateway.billed_at < incidents.window_end
            ),
            (
                select count(*)
                from gateway
                where
                    gateway.billed_at >= incidents.window_start
                    and gateway.billed_at < incidents.window_end
            )
        ),
        (
            'account-specific multiplier (group ratio)',
            (
                select
                    'group ratio '
                    || coalesce(
                        string_agg(
                            distinct cast(gateway.group_ratio_exact as varchar), ', '
                            order by cast(gateway.group_ratio_exact as varchar)
                        ),
                        'none'
                    )
                from gateway
                where
                    gateway.billed_at >= incidents.window_start
                    and gateway.billed_at < incidents.window_end
            ),
            (
                select count(*) filter (where gateway.group_ratio_exact <> 1)
                from gateway
                where
                    gateway.billed_at >= incidents.window_start
                    and gateway.billed_at < incidents.window_end
            )
        )
    ) as assumptions (item, observed_value, evidence_count)

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
