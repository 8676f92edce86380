-- Every billed attempt attributed to an incident: one row per incident × attempt sent
-- or billed inside the window [window_start, window_end), with the attempt's recomputed
-- cost and how many of its dimensions rest on a figure that is not verified. The
-- waterfall's attempt steps and the window-alignment gate read this table.
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

all_attempts as {{ inlined_cte() }} (

    select * from {{ ref('int_attempts_joined') }}

),

all_charges as {{ inlined_cte() }} (

    select * from {{ ref('int_attempt_charges_priced') }}

),

-- only the attempts sent or billed inside the incidents' span can be attributed, and only
-- their charges count (a charge carries its attempt's times); the scans skip the row
-- groups of the rest of the history
attempts as (

    {{ sent_or_billed_in_incident_span('all_attempts') }}

),

charges as (

    {{ sent_or_billed_in_incident_span('all_charges') }}

),

attempt_costs as (

    select
        attempt_key,
        any_value(priced_label) as priced_label,
        sum(amount_usd) as cost,
        count(*) filter (where amount_usd is null) as unpriced_dimensions,
        count(*) filter (where amount_confidence <> 'verified') as unverified_dimensions
    from charges
    group by attempt_key

),

attributed as (

    select
        incidents.incident_id || ':' || attempts.attempt_key as incident_attempt_key,
        incidents.incident_id,
        attempts.attempt_key,
        coalesce(attempt_costs.priced_label, attempts.billed_label, attempts.service_label)
            as service_label,
        -- the label the application asked for (the ledger's label), when billed as another
        attempts.service_label as requested_label,
        attempts.capture_status,
        attempts.is_ledgered_attempt,
        attempts.has_gateway_ratios,
        attempts.is_successful_attempt,
        attempts.sent_at,
        attempts.billed_at,
        incidents.window_start,
        incidents.window_end,
        incidents.buffered_start,
        incidents.buffered_end,
        attempts.sent_at >= incidents.window_start
        and attempts.sent_at < incidents.window_end as is_sent_in_window,
        attempts.billed_at >= incidents.window_start
        and attempts.billed_at < incidents.window_end as is_billed_in_window,
        coalesce(attempt_costs.cost, 0) as cost,
        coalesce(attempt_costs.unpriced_dimensions, 0) as unpriced_dimensions,
        coalesce(attempt_costs.unverified_dimensions, 0) as unverified_dimensions
    from incidents
    inner join attempts
        on
            (attempts.sent_at >= incidents.window_start and attempts.sent_at < incidents.window_end)
            or (
                attempts.billed_at >= incidents.window_start
                and attempts.billed_at < incidents.window_end
            )
    left join attempt_costs on attempts.attempt_key = attempt_costs.attempt_key
    where attempts.is_billed

)

select * from attributed
