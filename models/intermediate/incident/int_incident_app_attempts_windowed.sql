-- Every application attempt of a logical request first sent inside an incident window
-- [window_start, window_end): one row per incident × app attempt, with what the contract
-- checks and the usage-validation counts read (endpoint, header and field names, usage
-- keys, error shape, retry chain, salted fingerprints), and whether the gateway logged it.
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

all_app_attempts as (

    select * from {{ ref('int_app_attempts_deduplicated') }}

),

all_joined as (

    select * from {{ ref('int_attempts_joined') }}

),

-- the attempts of requests first sent inside the incidents' overall span; the bounds are
-- single values, so the scans skip the row groups of the rest of the history
app_attempts as (

    select *
    from all_app_attempts
    where {{ within_incident_span('request_first_sent_at') }}

),

joined as (

    select *
    from all_joined
    where {{ within_incident_span('request_first_sent_at') }}

),

windowed as (

    select
        incidents.incident_id || ':' || app_attempts.attempt_key as incident_app_attempt_key,
        incidents.incident_id,
        app_attempts.attempt_key,
        app_attempts.logical_request_id,
        app_attempts.attempt_number,
        app_attempts.attempts_in_request,
        app_attempts.is_last_attempt,
        app_attempts.is_final_success,
        app_attempts.final_success_attempt_number,
        app_attempts.request_first_sent_at,
        app_attempts.sent_at,
        app_attempts.completed_at,
        app_attempts.tenant,
        app_attempts.endpoint,
        app_attempts.api_format,
        app_attempts.requested_model,
        app_attempts.http_status,
        app_attempts.is_successful_attempt,
        app_attempts.is_stream,
        app_attempts.is_client_disconnected,
        app_attempts.has_usage,
        app_attempts.usage_structure_json,
        app_attempts.error_type,
        app_attempts.error_shape,
        app_attempts.request_header_names,
        app_attempts.request_field_names,
        app_attempts.credential_fingerprint,
        app_attempts.payload_fingerprint,
        app_attempts.cometapi_request_id,
        coalesce(joined.has_gateway_record, false) as has_gateway_record
    from incidents
    inner join app_attempts
        on
            app_attempts.request_first_sent_at >= incidents.window_start
            and app_attempts.request_first_sent_at < incidents.window_end
    left join joined on app_attempts.attempt_key = joined.app_attempt_key

)

select * from windowed
