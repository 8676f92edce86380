-- The checklist's "Usage validation" items for every incident: one row per incident ×
-- check with its count, what the count is of, the evidence behind it and its confidence.
-- Requests are the logical requests first sent inside [window_start, window_end).
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

-- read by two CTEs, each bounding it to the incidents' span: inlined so that each scan
-- skips the rest of the history (a materialized copy would hold all of it)
joined as {{ inlined_cte() }} (

    select * from {{ ref('int_attempts_joined') }}

),

changes as (

    select * from {{ ref('stg_changes__change_log') }}

),

charge_lines as (

    select * from {{ ref('int_incident_charge_lines_windowed') }}

),

ledger as (

    select * from {{ ref('int_ledger_buckets_aligned') }}

),

usage as (

    select * from {{ ref('int_attempt_charges_priced') }}

),

checks as (

    select * from {{ ref('usage_validation_checks') }}

),

all_app_attempts as (

    select * from {{ ref('int_app_attempts_deduplicated') }}

),

gateway_logs as (

    select * from {{ ref('stg_gateway__logs') }}

),

---------- requests: successful, failed, retried

requests as (

    select
        incident_id,
        logical_request_id,
        tenant,
        any_value(payload_fingerprint) filter (where attempt_number = 1) as first_payload,
        min(sent_at) as first_sent_at,
        bool_or(is_final_success) as succeeded,
        max(attempts_in_request) as attempts
    from app_attempts
    group by incident_id, logical_request_id, tenant

),

request_counts as (

    select
        incident_id,
        count(*) filter (where succeeded) as successful_requests,
        count(*) filter (where not succeeded) as failed_requests,
        count(*) filter (where attempts > 1) as retried_requests,
        count(*) as logical_requests,
        sum(attempts) as attempts
    from requests
    group by incident_id

),

-- the earlier request of a duplicate is first sent at most 15 minutes before a request
-- of an incident, possibly before its window opens
earlier_request_span as (

    select
        min(first_sent_at) - interval 15 minute as earliest,
        max(first_sent_at) as latest
    from requests

),

-- the logical requests of the application log first sent in that span, wherever they
-- fall: a nightly reads the day's requests, not the history (the scan skips the rest)
span_requests as (

    select
        logical_request_id,
        tenant,
        any_value(payload_fingerprint) filter (where attempt_number = 1) as first_payload,
        min(sent_at) as first_sent_at
    from all_app_attempts
    where
        request_first_sent_at >= (select earliest from earlier_request_span)
        and request_first_sent_at <= (select latest from earlier_request_span)
    group by logical_request_id, tenant

),

-- how many requests of the span each tenant sent with the same payload: above
-- {{ var('templated_payload_min_requests') }} it is a template (a scheduled job, a
-- templated prompt), not a replay
payload_uses as (

    select
        tenant,
        first_payload,
        count(*) as requests_with_payload
    from span_requests
    where tenant is not null and first_payload is not null
    group by tenant, first_payload

),

-- each distinct first-sent time of a tenant's payload and the one before it: a window
-- over (tenant, payload) ordered by time, never a join of every pair of its requests
payload_times as (

    select
        tenant,
        first_payload,
        first_sent_at,
        lag(first_sent_at) over (
            partition by tenant, first_payload order by first_sent_at
        ) as previous_sent_at
    from (
        select distinct
            tenant,
            first_payload,
            first_sent_at
        from span_requests
        where tenant is not null and first_payload is not null
    ) as distinct_times

),

request_payload_history as (

    select
        span_requests.logical_request_id,
        payload_times.previous_sent_at,
        payload_uses.requests_with_payload
        > {{ var('templated_payload_min_requests') }} as is_templated_payload,
        span_requests.first_sent_at - payload_times.previous_sent_at
        <= interval 15 minute as follows_same_payload
    from span_requests
    inner join payload_times
        on
            span_requests.tenant = payload_times.tenant
            and span_requests.first_payload = payload_times.first_payload
            and span_requests.first_sent_at = payload_times.first_sent_at
    inner join payload_uses
        on
            span_requests.tenant = payload_uses.tenant
            and span_requests.first_payload = payload_uses.first_payload

),

-- the same tenant sent the same payload (salted hash) under another request id at most 15
-- minutes after an earlier request: a client-side duplicate (timeout resend or queue
-- replay), unless the payload is a template many requests share
duplicates as (

    select
        requests.incident_id,
        count(distinct requests.logical_request_id) filter (
            where history.follows_same_payload and not history.is_templated_payload
        ) as duplicate_client_requests,
        count(distinct requests.logical_request_id) filter (
            where history.is_templated_payload
        ) as templated_payload_requests
    from requests
    inner join request_payload_history as history
        on requests.logical_request_id = history.logical_request_id
    group by requests.incident_id

),

---------- jobs, one-sided request ids, streams, boundary

gateway_in_window as (

    select
        incidents.incident_id,
        joined.*
    from incidents
    inner join joined
        on
            joined.billed_at >= incidents.window_start
            and joined.billed_at < incidents.window_end
            and joined.has_gateway_record
    where {{ within_incident_span('joined.billed_at') }}

),

app_token_names as (

    select distinct
        gateway_in_window.incident_id,
        gateway_in_window.token_name
    from gateway_in_window
    where gateway_in_window.has_app_record

),

jobs as (

    select
        gateway_in_window.incident_id,
        count(distinct gateway_in_window.token_name) as job_tokens,
        {{ ordered_string_agg(
            'gateway_in_window.token_name', "', '", 'gateway_in_window.token_name', distinct=true
        ) }} as job_token_names,
        count(*) as job_rows
    from gateway_in_window
    left join app_token_names
        on
            gateway_in_window.incident_id = app_token_names.incident_id
            and gateway_in_window.token_name = app_token_names.token_name
    where app_token_names.token_name is null
    group by gateway_in_window.incident_id

),

scheduled_changes as (

    select
        incidents.incident_id,
        count(*) as scheduled_changes,
        {{ ordered_string_agg(
            'changes.changed_setting', "', '", 'changes.changed_at, changes.changed_setting'
        ) }} as scheduled_change_names
    from incidents
    inner join changes
        on
            changes.changed_at >= incidents.buffered_start
            and changes.changed_at < incidents.buffered_end
            and changes.change_kind in ('job', 'cron', 'schedule', 'backfill', 'batch')
    group by incidents.incident_id

),

-- the incidents' request ids that the gateway logged in any record type (consume,
-- error, ...), whenever it logged them after they were sent: from a day before the
-- earliest window (room for any clock skew between the two logs) on, so the scan skips
-- the older history
gateway_logged as (

    select distinct gateway_logs.cometapi_request_id
    from gateway_logs
    where
        gateway_logs.billed_at
        >= (select min(incidents.window_start) from incidents) - interval 1 day
        and gateway_logs.cometapi_request_id in (
            select app_attempts.cometapi_request_id from app_attempts
        )

),

one_sided as (

    select
        incident_id,
        count(*) filter (where not has_app_record) as gateway_only_ids,
        0 as app_only_ids
    from gateway_in_window
    group by incident_id
    union all
    select
        app_attempts.incident_id,
        0 as gateway_only_ids,
        count(*) filter (where gateway_logged.cometapi_request_id is null) as app_only_ids
    from app_attempts
    left join gateway_logged
        on app_attempts.cometapi_request_id = gateway_logged.cometapi_request_id
    group by app_attempts.incident_id

),

one_sided_counts as (

    select
        incident_id,
        sum(gateway_only_ids) as gateway_only_ids,
        sum(app_only_ids) as app_only_ids
    from one_sided
    group by incident_id

),

streams as (

    select
        incident_id,
        count(*) filter (where is_stream) as stream_attempts,
        count(*) filter (where is_stream and (is_client_disconnected or completed_at is null))
            as streams_logged_at_start_only
    from app_attempts
    group by incident_id

),

boundary as (

    select
        incident_id,
        count(*) filter (where is_sent_in_window is distinct from is_billed_in_window)
            as crossing_boundary,
        count(*) as attributed_attempts
    from attributed
    group by incident_id

),

---------- response usage against the ledger, per aligned hour and label

response_usage_hourly as (

    select
        attributed.incident_id,
        joined.service_label,
        date_trunc('hour', joined.sent_at) as bucket_start_utc,
        sum(usage.quantity) filter (
            where usage.dimension in ('input', 'input_cache_read', 'input_cache_write')
        ) as input_tokens,
        sum(usage.quantity) filter (where usage.dimension = 'output') as output_tokens
    from attributed
    inner join joined on attributed.attempt_key = joined.attempt_key
    inner join usage on attributed.attempt_key = usage.attempt_key
    where
        attributed.is_ledgered_attempt
        and attributed.is_sent_in_window
        and {{ within_incident_span('joined.sent_at') }}
        and {{ within_incident_span('usage.sent_at') }}
    group by all

),

ledger_hourly as (

    select
        incidents.incident_id,
        ledger.service_label,
        ledger.bucket_start_utc,
        sum(ledger.input_tokens) as input_tokens,
        sum(ledger.output_tokens) as output_tokens
    from incidents
    inner join ledger
        on
            ledger.bucket_start_utc >= incidents.window_start
            and ledger.bucket_start_utc < incidents.window_end
    group by all

),

usage_vs_ledger as (

    select
        coalesce(response.incident_id, booked.incident_id) as incident_id,
        count(*) as buckets_compared,
        count(*) filter (
            where
            coalesce(response.input_tokens, 0) <> coalesce(booked.input_tokens, 0)
            or coalesce(response.output_tokens, 0) <> coalesce(booked.output_tokens, 0)
        ) as buckets_differing
    from response_usage_hourly as response
    full outer join ledger_hourly as booked
        on
            response.incident_id = booked.incident_id
            and response.service_label = booked.service_label
            and response.bucket_start_utc = booked.bucket_start_utc
    group by all

),

---------- billed records that no charge line covers

charge_hours as (

    select distinct
        incident_id,
        service_label,
        date_trunc('hour', charge_period_start) as hour_start
    from charge_lines
    where is_counted_in_billed and charge_category = 'Usage'

),

untied as (

    select
        gateway_in_window.incident_id,
        count(*) filter (where charge_hours.hour_start is null) as untied_billed_records,
        count(*) as billed_records
    from gateway_in_window
    left join charge_hours
        on
            gateway_in_window.incident_id = charge_hours.incident_id
            and gateway_in_window.billed_label = charge_hours.service_label
            and date_trunc('hour', gateway_in_window.billed_at) = charge_hours.hour_start
    group by gateway_in_window.incident_id

),

---------- one row per check

counted as (

    select
        incidents.incident_id,
        counts.check_name,
        counts.check_count,
        counts.out_of,
        counts.evidence
    from incidents
    left join request_counts on incidents.incident_id = request_counts.incident_id
    left join duplicates on incidents.incident_id = duplicates.incident_id
    left join jobs on incidents.incident_id = jobs.incident_id
    left join scheduled_changes on incidents.incident_id = scheduled_changes.incident_id
    left join one_sided_counts on incidents.incident_id = one_sided_counts.incident_id
    left join streams on incidents.incident_id = streams.incident_id
    left join boundary on incidents.incident_id = boundary.incident_id
    left join usage_vs_ledger on incidents.incident_id = usage_vs_ledger.incident_id
    left join untied on incidents.incident_id = untied.incident_id
    -- one row per check, from the same joined row
    cross join lateral (  -- noqa: ST05
        select
            'successful_requests' as check_name,
            coalesce(request_counts.successful_requests, 0) as check_count,
            coalesce(request_counts.logical_requests, 0) as out_of,
            'logical requests whose last attempt succeeded (application log)' as evidence
        union all
        select
            'failed_requests' as check_name,
            coalesce(request_counts.failed_requests, 0) as check_count,
            coalesce(request_counts.logical_requests, 0) as out_of,
            'logical requests without a successful attempt (application log)' as evidence
        union all
        select
            'retried_requests' as check_name,
            coalesce(request_counts.retried_requests, 0) as check_count,
            coalesce(request_counts.logical_requests, 0) as out_of,
            'logical requests with more than one attempt; '
            || coalesce(request_counts.attempts, 0) || ' attempts in all' as evidence
        union all
        select
            'duplicate_client_requests' as check_name,
            coalesce(duplicates.duplicate_client_requests, 0) as check_count,
            coalesce(request_counts.logical_requests, 0) as out_of,
            'requests whose salted payload hash repeats an earlier request of the same tenant '
            || 'within 15 minutes under another request id (templated payloads apart)' as evidence
        union all
        select
            'templated_payload_requests' as check_name,
            coalesce(duplicates.templated_payload_requests, 0) as check_count,
            coalesce(request_counts.logical_requests, 0) as out_of,
            'requests whose tenant sent the same salted payload hash more than '
            || {{ var('templated_payload_min_requests') }}
            || ' times in the span read: a template, not a replay' as evidence
        union all
        select
            'scheduled_jobs_in_window' as check_name,
            coalesce(jobs.job_tokens, 0)
            + coalesce(scheduled_changes.scheduled_changes, 0) as check_count,
            null as out_of,
            'gateway token names billing in the window that no application request used: '
            || coalesce(jobs.job_token_names || ' (' || jobs.job_rows || ' gateway rows)', 'none')
            || '; scheduled changes in the buffered window: '
            || coalesce(scheduled_changes.scheduled_change_names, 'none') as evidence
        union all
        select
            'request_ids_only_in_gateway_log' as check_name,
            coalesce(one_sided_counts.gateway_only_ids, 0) as check_count,
            null as out_of,
            'gateway records billed in the window without an application attempt' as evidence
        union all
        select
            'request_ids_only_in_app_log' as check_name,
            coalesce(one_sided_counts.app_only_ids, 0) as check_count,
            coalesce(request_counts.attempts, 0) as out_of,
            'application attempts of the window that the gateway never logged' as evidence
        union all
        select
            'usage_buckets_differing_from_ledger' as check_name,
            coalesce(usage_vs_ledger.buckets_differing, 0) as check_count,
            coalesce(usage_vs_ledger.buckets_compared, 0) as out_of,
            'hour × label buckets where response usage (input incl. cache, output) of '
            || 'ledgered attempts differs from the ledger aligned to UTC' as evidence
        union all
        select
            'streams_logged_only_at_start' as check_name,
            coalesce(streams.streams_logged_at_start_only, 0) as check_count,
            coalesce(streams.stream_attempts, 0) as out_of,
            'streamed attempts with no completion logged (client disconnected or no end)'
                as evidence
        union all
        select
            'requests_crossing_window_boundary' as check_name,
            coalesce(boundary.crossing_boundary, 0) as check_count,
            coalesce(boundary.attributed_attempts, 0) as out_of,
            'billed attempts sent on one side of a window edge and billed on the other'
                as evidence
        union all
        select
            'billed_records_without_charge_line' as check_name,
            coalesce(untied.untied_billed_records, 0) as check_count,
            coalesce(untied.billed_records, 0) as out_of,
            'gateway records of the window whose hour and label no usage charge line covers'
                as evidence
    ) as counts

),

final as (

    select
        counted.incident_id || ':' || counted.check_name as usage_check_key,
        counted.incident_id,
        counted.check_name,
        checks.checklist_item,
        cast(counted.check_count as bigint) as check_count,
        cast(counted.out_of as bigint) as out_of,
        counted.evidence,
        checks.confidence,
        cast(checks.check_order as integer) as check_order
    from counted
    inner join checks on counted.check_name = checks.check_name

)

select * from final
