-- One ordered timeline per incident: the window and buffer edges, the changes and alerts
-- of the change log around it, and the onset of each material capture-gap cause, found
-- from the data: the first hour in which the cause's attempts exceed, by more than three
-- standard deviations (Poisson) and by at least 3 attempts, what its share of billed
-- attempts in the hours before would give. A cause whose onset follows a related change
-- within the buffer names that change as its likely trigger (inferred): application-side
-- causes (retries, streams) follow application changes; an untracked job follows only a
-- scheduled-job change.
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

all_changes as (

    select * from {{ ref('stg_changes__change_log') }}

),

-- the same change exported twice (two overlapping change-log exports) is one change
changes as (

    select *
    from (
        select
            *,
            row_number() over (
                partition by
                    changed_at, change_kind, changed_setting, old_value, new_value, deploy_id,
                    description
                order by source_path, source_row_number
            ) as copy_number
        from all_changes
    ) as numbered
    where copy_number = 1

),

attempts as (

    select * from {{ ref('int_attempts_joined') }}

),

attribution as (

    select * from {{ ref('fct_variance_attribution') }}

),

-- how far back the hourly baseline reaches before the buffered window
lookback as (

    select interval 12 hour as span

),

---------- hourly share of each capture-gap cause among all attempts

hours as (

    select
        incidents.incident_id,
        date_trunc('hour', attempts.sent_at) as hour_start,
        count(*) as all_attempts,
        count(*) filter (where attempts.capture_status = 'retry_amplification')
            as retry_amplification,
        count(*) filter (where attempts.capture_status = 'stream_after_disconnect')
            as stream_after_disconnect,
        count(*) filter (where attempts.capture_status = 'untracked_job') as untracked_job
    from incidents
    cross join lookback
    inner join attempts
        on
            attempts.sent_at >= incidents.buffered_start - lookback.span
            and attempts.sent_at < incidents.window_end
            and attempts.is_billed
    group by all

),

series as (

    select
        hours.incident_id,
        hours.hour_start,
        hours.all_attempts,
        causes.cause,
        causes.n,
        causes.n / hours.all_attempts as share
    from hours
    cross join lateral (  -- noqa: ST05
        select
            'retry_amplification' as cause,
            hours.retry_amplification as n
        union all
        select
            'stream_after_disconnect' as cause,
            hours.stream_after_disconnect as n
        union all
        select
            'untracked_job' as cause,
            hours.untracked_job as n
    ) as causes

),

with_baseline as (

    select
        *,
        avg(share) over (
            partition by incident_id, cause order by hour_start
            rows between unbounded preceding and 1 preceding
        ) as share_before,
        avg(n) over (
            partition by incident_id, cause order by hour_start
            rows between unbounded preceding and 1 preceding
        ) as count_before,
        row_number() over (partition by incident_id, cause order by hour_start) as hour_number
    from series

),

onsets as (

    select
        with_baseline.incident_id,
        with_baseline.cause,
        min(with_baseline.hour_start) as onset_at
    from with_baseline
    inner join incidents on with_baseline.incident_id = incidents.incident_id
    where
        with_baseline.hour_number > 1
        and with_baseline.hour_start < incidents.window_end
        and with_baseline.n >= 3
        -- more than the hours before would make it by chance (Poisson, three sigma)
        and with_baseline.n > coalesce(with_baseline.share_before, 0) * with_baseline.all_attempts
        + 3 * sqrt(coalesce(with_baseline.share_before, 0) * with_baseline.all_attempts)
    group by all

),

onset_rows as (

    select
        onsets.incident_id,
        onsets.cause,
        onsets.onset_at,
        with_baseline.n as attempts_at_onset,
        with_baseline.count_before as attempts_per_hour_before,
        attribution.amount_usd,
        attribution.confidence
    from onsets
    inner join with_baseline
        on
            onsets.incident_id = with_baseline.incident_id
            and onsets.cause = with_baseline.cause
            and onsets.onset_at = with_baseline.hour_start
    inner join attribution
        on
            onsets.incident_id = attribution.incident_id
            and onsets.cause = attribution.cause
    where attribution.claim_status <> 'immaterial'

),

---------- the likely trigger: the last related change before the onset hour ends, within
---------- the buffer before the onset

triggers as (

    select
        onset_rows.incident_id,
        onset_rows.cause,
        max_by(changes.change_key, changes.changed_at) as change_key
    from onset_rows
    inner join incidents on onset_rows.incident_id = incidents.incident_id
    inner join changes
        on
            changes.changed_at
            >= onset_rows.onset_at - {{ interval_of('incidents.buffer_minutes', 'minute') }}
            and changes.changed_at < onset_rows.onset_at + interval 1 hour
            and (
                (
                    onset_rows.cause = 'untracked_job'
                    and changes.change_kind in ('job', 'cron', 'schedule', 'backfill', 'batch')
                )
                or (
                    onset_rows.cause <> 'untracked_job'
                    and changes.change_kind in ('deploy', 'config', 'feature_flag', 'route')
                )
            )
    group by all

),

---------- events

events as (

    select
        incidents.incident_id,
        edges.event_at,
        'window' as event_kind,
        edges.event,
        edges.detail,
        cast(null as string) as cause,
        cast(null as string) as likely_trigger,
        cast(null as string) as likely_trigger_change_key,
        cast(null as string) as confidence,
        cast(null as decimal(38, 18)) as amount_usd
    from incidents
    cross join
        lateral (  -- noqa: ST05
            select
                incidents.buffered_start as event_at,
                'buffer_start' as event,
                'window start − ' || incidents.buffer_minutes || ' min' as detail
            union all
            select
                incidents.window_start as event_at,
                'window_start' as event,
                'incident window opens (UTC)' as detail
            union all
            select
                incidents.window_end as event_at,
                'window_end' as event,
                'incident window closes (UTC, exclusive)' as detail
            union all
            select
                incidents.buffered_end as event_at,
                'buffer_end' as event,
                'window end + ' || incidents.buffer_minutes || ' min' as detail
        ) as edges
    union all
    select
        incidents.incident_id,
        changes.changed_at as event_at,
        case when changes.change_kind = 'alert' then 'alert' else 'change' end as event_kind,
        changes.changed_setting as event,
        changes.change_kind || ': ' || coalesce(changes.old_value, '∅') || ' → '
        || coalesce(changes.new_value, '∅')
        || coalesce(' (' || changes.deploy_id || ')', '')
        || coalesce('. ' || changes.description, '') as detail,
        null as cause,
        null as likely_trigger,
        null as likely_trigger_change_key,
        'verified' as confidence,
        null as amount_usd
    from incidents
    cross join lookback
    inner join changes
        on
            changes.changed_at >= incidents.buffered_start - lookback.span
            and changes.changed_at < incidents.buffered_end
    union all
    select
        onset_rows.incident_id,
        onset_rows.onset_at as event_at,
        'cause_onset' as event_kind,
        onset_rows.cause as event,
        onset_rows.attempts_at_onset || ' attempts in the hour against '
        || round(coalesce(onset_rows.attempts_per_hour_before, 0), 1)
        || ' per hour before' as detail,
        onset_rows.cause,
        changes.changed_setting
        || coalesce(' (' || changes.deploy_id || ')', '')
        || ' at ' || {{ format_timestamp('changes.changed_at', '%Y-%m-%d %H:%M') }} || ' UTC'
            as likely_trigger,
        changes.change_key as likely_trigger_change_key,
        'inferred' as confidence,
        onset_rows.amount_usd
    from onset_rows
    left join triggers
        on
            onset_rows.incident_id = triggers.incident_id
            and onset_rows.cause = triggers.cause
    left join changes on triggers.change_key = changes.change_key

),

final as (

    select
        -- two different changes of one setting at one instant are two events: the
        -- detail (old and new value, deploy, description) tells them apart
        md5(
            incident_id || ':' || event_kind || ':' || coalesce(event, '') || ':'
            || {{ format_timestamp('event_at', '%Y-%m-%d %H:%M:%S.%f') }}
            || ':' || coalesce(detail, '')
        ) as timeline_event_key,
        incident_id,
        event_at,
        event_kind,
        event,
        detail,
        cause,
        likely_trigger,
        likely_trigger_change_key,
        confidence,
        cast(amount_usd as decimal(38, 18)) as amount_usd,
        cast(
            row_number() over (partition by incident_id order by event_at, event_kind, event)
            as integer
        ) as event_order
    from events

)

select * from final
