-- The variance waterfall of every incident, from forecast to billed, in the fixed order
-- of the design: one row per incident × service label × cause with its signed USD
-- amount, the evidence behind it and its confidence. By construction, for every incident
-- and label, forecast + Σ amounts = billed (billing lines without a label fall under
-- `unallocated`).
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

ledger as (

    select * from {{ ref('int_ledger_quantities_priced') }}

),

catalog_rates as (

    select * from {{ ref('int_catalog_rates_intervals') }}

),

all_charges as {{ inlined_cte() }} (

    select * from {{ ref('int_attempt_charges_priced') }}

),

all_gateway as (

    select * from {{ ref('int_gateway_requests_deduplicated') }}

),

attempts_in_incidents as (

    select * from {{ ref('int_incident_attempts_attributed') }}

),

charge_lines as (

    select * from {{ ref('int_incident_charge_lines_windowed') }}

),

ledger_interpretations as (

    select * from {{ ref('int_ledger_buckets_interpreted') }}

),

all_gateway_logs as (

    select * from {{ ref('stg_gateway__logs') }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

-- the charges of the attributed attempts (sent or billed in the incidents' span; a charge
-- carries its attempt's times) and the gateway records billed in it: the scans skip the
-- rest of the history
charges as (

    {{ sent_or_billed_in_incident_span('all_charges') }}

),

gateway as (

    select *
    from all_gateway
    where {{ within_incident_span('billed_at') }}

),

---------- steps 1-3: the ledger as read, aligned, and repriced

ledger_priced as (

    select
        incidents.incident_id,
        ledger.*,
        ledger.bucket_start_as_read >= incidents.window_start
        and ledger.bucket_start_as_read < incidents.window_end as is_in_window_as_read,
        ledger.bucket_start_utc >= incidents.window_start
        and ledger.bucket_start_utc < incidents.window_end as is_in_window_aligned
    from incidents
    inner join ledger
        on
            (
                ledger.bucket_start_as_read >= incidents.window_start
                and ledger.bucket_start_as_read < incidents.window_end
            )
            or (
                ledger.bucket_start_utc >= incidents.window_start
                and ledger.bucket_start_utc < incidents.window_end
            )

),

ledger_steps as (

    select
        incident_id,
        service_label,
        coalesce(sum(sheet_amount) filter (where is_in_window_as_read), 0) as forecast,
        coalesce(sum(sheet_amount) filter (where is_in_window_aligned), 0)
        - coalesce(sum(sheet_amount) filter (where is_in_window_as_read), 0) as timezone_shift,
        coalesce(
            sum(verified_amount - sheet_amount) filter (
                where is_in_window_aligned and sheet_usd_per_unit is not null
            ),
            0
        ) as stale_rate,
        coalesce(
            sum(verified_amount) filter (
                where is_in_window_aligned and sheet_usd_per_unit is null
            ),
            0
        ) as rate_missing_from_sheet,
        count(distinct ledger_bucket_key) filter (
            where is_in_window_aligned and sheet_usd_per_unit is null and verified_amount <> 0
        ) as unpriced_sheet_rows,
        coalesce(sum(verified_amount) filter (where is_in_window_aligned), 0)
            as aligned_at_verified_rates,
        count(distinct ledger_bucket_key) filter (where is_in_window_as_read) as read_rows,
        count(distinct ledger_bucket_key) filter (
            where is_in_window_as_read <> is_in_window_aligned
        ) as shifted_rows,
        count(distinct ledger_bucket_key) filter (
            where
            is_in_window_aligned
            and verified_usd_per_unit <> sheet_usd_per_unit
            and quantity <> 0
        ) as restated_rows,
        count(distinct ledger_bucket_key) filter (where is_in_window_aligned) as aligned_rows,
        count(*) filter (
            where (is_in_window_aligned or is_in_window_as_read) and sheet_usd_per_unit is null
        ) as rows_without_sheet_rate,
        count(*) filter (where is_in_window_aligned and verified_usd_per_unit is null)
            as rows_without_verified_rate,
        bool_and(time_alignment_confidence = 'verified') as is_alignment_verified,
        bool_and(time_alignment_confidence in ('verified', 'inferred')) as is_alignment_known,
        bool_and(coalesce(rate_confidence, 'unknown') = 'verified') filter (
            where
            is_in_window_aligned
            and (sheet_usd_per_unit is not null or verified_usd_per_unit is not null)
        ) as are_rates_verified
    from ledger_priced
    group by incident_id, service_label

),

---------- steps 4-5: our own attempts

-- what the ledger's conventions explain (int_ledger_buckets_interpreted): the aligned
-- buckets in the window, per cause
convention_causes as (

    select
        incidents.incident_id,
        ledger_interpretations.service_label,
        ledger_interpretations.cause,
        sum(ledger_interpretations.amount_usd) as amount_usd,
        count(distinct ledger_interpretations.ledger_bucket_key) as evidence_count,
        case
            when bool_or(ledger_interpretations.confidence = 'unknown') then 'unknown'
            when bool_or(ledger_interpretations.confidence = 'inferred') then 'inferred'
            else 'verified'
        end as confidence
    from incidents
    inner join ledger_interpretations
        on
            ledger_interpretations.bucket_start_utc >= incidents.window_start
            and ledger_interpretations.bucket_start_utc < incidents.window_end
    group by
        incidents.incident_id,
        ledger_interpretations.service_label,
        ledger_interpretations.cause

),

convention_effect as (

    select
        incident_id,
        service_label,
        sum(amount_usd) as explained_by_conventions
    from convention_causes
    group by incident_id, service_label

),

-- the labels the catalog prices: a dimension it leaves out of one of them costs nothing
catalog_labels as (

    select distinct service_label
    from catalog_rates

),

alias_effect as (

    -- a ledgered attempt billed as another label than requested: the repricing it caused,
    -- under the requested label (the ledger's); verified only when both labels' rates are
    select
        attempts_in_incidents.incident_id,
        attempts_in_incidents.requested_label as service_label,
        sum(
            charges.amount_usd - charges.quantity * coalesce(requested_rates.usd_per_unit, 0)
        ) as alias_mismatch,
        count(distinct charges.attempt_key) as realiased_attempts,
        bool_and(
            charges.amount_confidence = 'verified'
            and coalesce(requested_rates.rate_confidence, 'verified') = 'verified'
        ) as is_alias_mismatch_verified
    from attempts_in_incidents
    inner join charges
        on
            attempts_in_incidents.attempt_key = charges.attempt_key
            and charges.requested_label <> charges.priced_label
    inner join catalog_labels on charges.requested_label = catalog_labels.service_label
    {{ interval_in_force_join(
        'catalog_rates', 'requested_rates',
        'charges.requested_label = requested_rates.service_label'
        ~ ' and charges.dimension = requested_rates.dimension',
        'charges.sent_at'
    ) }}
    where attempts_in_incidents.is_ledgered_attempt and attempts_in_incidents.is_sent_in_window
    group by attempts_in_incidents.incident_id, attempts_in_incidents.requested_label

),

-- our own attempts under the label the application requested (the ledger's label): an
-- attempt billed as another label is repriced by alias_mismatch, not lost to the ledger
attempt_steps as (

    select
        incident_id,
        requested_label as service_label,
        coalesce(sum(cost) filter (where is_ledgered_attempt and is_sent_in_window), 0)
            as ledgered_recomputed,
        count(*) filter (where is_ledgered_attempt and is_sent_in_window) as ledgered_attempts,
        coalesce(sum(cost) filter (
            where capture_status = 'retry_amplification' and is_sent_in_window
        ), 0) as retry_amplification,
        count(*) filter (
            where capture_status = 'retry_amplification' and is_sent_in_window
        ) as retry_attempts,
        coalesce(sum(cost) filter (
            where capture_status = 'stream_after_disconnect' and is_sent_in_window
        ), 0) as stream_after_disconnect,
        count(*) filter (
            where capture_status = 'stream_after_disconnect' and is_sent_in_window
        ) as disconnect_attempts,
        coalesce(sum(cost) filter (
            where capture_status = 'untracked_job' and is_sent_in_window
        ), 0) as untracked_job,
        count(*) filter (where capture_status = 'untracked_job' and is_sent_in_window)
            as untracked_attempts,
        coalesce(sum(cost) filter (
            where capture_status = 'other_unledgered_attempt' and is_sent_in_window
        ), 0) as other_unledgered_attempt,
        count(*) filter (
            where capture_status = 'other_unledgered_attempt' and is_sent_in_window
        ) as other_unledgered_attempts,
        coalesce(sum(cost) filter (where is_billed_in_window and not is_sent_in_window), 0)
        - coalesce(sum(cost) filter (
            where is_sent_in_window and not coalesce(is_billed_in_window, false)
        ), 0) as window_boundary,
        count(*) filter (
            where is_billed_in_window is distinct from is_sent_in_window
        ) as boundary_attempts,
        coalesce(sum(cost) filter (where is_billed_in_window), 0) as recomputed,
        coalesce(sum(cost) filter (where is_billed_in_window and has_gateway_ratios), 0)
            as recomputed_with_gateway_ratios,
        count(*) filter (where is_billed_in_window and unpriced_dimensions > 0)
            as unpriced_attempts,
        -- a capture-gap amount is verified only when every figure under it is
        coalesce(bool_and(unverified_dimensions = 0) filter (
            where capture_status = 'retry_amplification' and is_sent_in_window
        ), true) as is_retry_amplification_verified,
        coalesce(bool_and(unverified_dimensions = 0) filter (
            where capture_status = 'stream_after_disconnect' and is_sent_in_window
        ), true) as is_stream_after_disconnect_verified,
        coalesce(bool_and(unverified_dimensions = 0) filter (
            where capture_status = 'untracked_job' and is_sent_in_window
        ), true) as is_untracked_job_verified,
        coalesce(bool_and(unverified_dimensions = 0) filter (
            where is_billed_in_window is distinct from is_sent_in_window
        ), true) as is_window_boundary_verified
    from attempts_in_incidents
    group by incident_id, requested_label

),

---------- step 6: the provider's side

gateway_steps as (

    select
        incidents.incident_id,
        gateway.billed_label as service_label,
        coalesce(sum(gateway.quota_usd), 0) as gateway,
        coalesce(sum(gateway.quota_usd - gateway.exact_quota_usd) filter (
            where gateway.has_ratios and not gateway.is_minimum_charge
        ), 0) as rounding,
        count(*) filter (where gateway.has_ratios and not gateway.is_minimum_charge)
            as rounded_rows,
        coalesce(sum(gateway.quota_usd - gateway.exact_quota_usd) filter (
            where gateway.is_minimum_charge
        ), 0) as minimum_charge,
        count(*) filter (where gateway.is_minimum_charge) as minimum_rows,
        coalesce(sum(gateway.exact_quota_usd) filter (where gateway.has_ratios), 0)
            as exact_with_ratios,
        coalesce(sum(gateway.quota_usd) filter (where not gateway.has_ratios), 0)
            as gateway_without_ratios,
        count(*) filter (where not gateway.has_ratios) as rows_without_ratios,
        count(*) filter (where gateway.group_ratio_exact <> 1) as discounted_rows
    from incidents
    inner join gateway
        on
            gateway.billed_at >= incidents.window_start
            and gateway.billed_at < incidents.window_end
    group by incidents.incident_id, gateway.billed_label

),

billed_steps as (

    -- lines whose charge period crosses a window edge are counted apart, never in billed
    select
        incident_id,
        service_label,
        sum(billed_cost) filter (
            where is_counted_in_billed and billing_currency = 'USD'
        ) as billed,
        -- credits and refunds the provider booked in the window
        coalesce(sum(billed_cost) filter (
            where
            is_counted_in_billed
            and billing_currency = 'USD'
            and (charge_category = 'Credit' or billed_cost < 0)
        ), 0) as credit_lines,
        count(*) filter (
            where is_counted_in_billed and (charge_category = 'Credit' or billed_cost < 0)
        ) as credit_rows,
        count(*) filter (where is_counted_in_billed) as focus_rows,
        count(*) filter (
            where
            is_counted_in_billed
            and charge_category <> 'Usage'
            and not (charge_category = 'Credit' or billed_cost < 0)
        ) as non_usage_focus_rows,
        count(*) filter (where is_counted_in_billed and billing_currency <> 'USD')
            as other_currency_rows,
        count(*) filter (where crosses_window_edge) as edge_crossing_focus_rows,
        sum(billed_cost) filter (where crosses_window_edge) as edge_crossing_billed
    from charge_lines
    where is_counted_in_billed or crosses_window_edge
    group by incident_id, service_label

),

-- the gateway's refunds (type 6) billed in the window, each request once
gateway_refund_rows as (

    select distinct
        incidents.incident_id,
        coalesce(aliases.service_label, nullif(logs.model_name, ''), 'unallocated')
            as service_label,
        coalesce(logs.cometapi_request_id, logs.gateway_log_key) as refund_key,
        abs(logs.quota_usd) as refunded_usd
    from incidents
    inner join all_gateway_logs as logs
        on
            logs.log_type_name = 'refund'
            and logs.billed_at >= incidents.window_start
            and logs.billed_at < incidents.window_end
    left join aliases on logs.model_name = aliases.alias

),

gateway_refunds as (

    select
        incident_id,
        service_label,
        sum(refunded_usd) as refunded,
        count(*) as refund_rows
    from gateway_refund_rows
    group by incident_id, service_label

),

---------- the waterfall, per incident and service label

labels as (

    select
        incident_id,
        service_label
    from ledger_steps
    union
    select
        incident_id,
        service_label
    from convention_causes
    union
    select
        incident_id,
        service_label
    from attempt_steps
    union
    select
        incident_id,
        service_label
    from gateway_steps
    union
    select
        incident_id,
        service_label
    from billed_steps
    union
    select
        incident_id,
        service_label
    from gateway_refunds

),

has_export as (

    select
        incident_id,
        bool_or(billed is not null) as has_billing_export
    from billed_steps
    group by incident_id

),

credits_by_incident as (

    select
        incident_id,
        sum(credit_lines) as credit_lines
    from billed_steps
    group by incident_id

),

refunds_by_incident as (

    select
        incident_id,
        sum(refunded) as refunded
    from gateway_refunds
    group by incident_id

),

-- a credit line is verified when the gateway's own refunds in the window add up to it
-- (no credit and no refund match too: there is nothing to confirm)
credit_match as (

    select
        incidents.incident_id,
        abs(
            coalesce(credits_by_incident.credit_lines, 0)
            + coalesce(refunds_by_incident.refunded, 0)
        ) <= 0.01 as do_refunds_match_credits
    from incidents
    left join credits_by_incident on incidents.incident_id = credits_by_incident.incident_id
    left join refunds_by_incident on incidents.incident_id = refunds_by_incident.incident_id

),

combined as (

    select
        labels.incident_id,
        labels.service_label,
        coalesce(ledger_steps.forecast, 0) as forecast,
        coalesce(ledger_steps.timezone_shift, 0) as timezone_shift,
        coalesce(ledger_steps.stale_rate, 0) as stale_rate,
        coalesce(ledger_steps.rate_missing_from_sheet, 0) as rate_missing_from_sheet,
        -- ledger semantics only apply where the ledger has rows for the label; where it
        -- has none, the requests it should hold are a capture gap, not a parser mistake
        case
            when coalesce(ledger_steps.aligned_rows, 0) > 0
                then coalesce(convention_effect.explained_by_conventions, 0)
            else 0
        end as explained_by_conventions,
        case
            when coalesce(ledger_steps.aligned_rows, 0) > 0
                then
                    coalesce(attempt_steps.ledgered_recomputed, 0)
                    - coalesce(ledger_steps.aligned_at_verified_rates, 0)
                    - coalesce(convention_effect.explained_by_conventions, 0)
                    - coalesce(alias_effect.alias_mismatch, 0)
            else 0
        end as other_parser_mistake,
        case
            when coalesce(ledger_steps.aligned_rows, 0) > 0 then 0
            else coalesce(attempt_steps.ledgered_recomputed, 0)
        end as missing_from_ledger,
        case
            when coalesce(ledger_steps.aligned_rows, 0) > 0 then 0
            else coalesce(attempt_steps.ledgered_attempts, 0)
        end as unledgered_label_attempts,
        case
            when coalesce(ledger_steps.aligned_rows, 0) > 0
                then coalesce(alias_effect.alias_mismatch, 0)
            else 0
        end as alias_mismatch,
        coalesce(alias_effect.realiased_attempts, 0) as realiased_attempts,
        coalesce(alias_effect.is_alias_mismatch_verified, true) as is_alias_mismatch_verified,
        coalesce(attempt_steps.retry_amplification, 0) as retry_amplification,
        coalesce(attempt_steps.stream_after_disconnect, 0) as stream_after_disconnect,
        coalesce(attempt_steps.untracked_job, 0) as untracked_job,
        coalesce(attempt_steps.other_unledgered_attempt, 0) as other_unledgered_attempt,
        coalesce(attempt_steps.window_boundary, 0) as window_boundary,
        coalesce(attempt_steps.recomputed, 0) as recomputed,
        coalesce(gateway_steps.gateway, 0) as gateway,
        coalesce(gateway_steps.rounding, 0) as rounding,
        coalesce(gateway_steps.minimum_charge, 0) as minimum_charge,
        coalesce(gateway_steps.exact_with_ratios, 0)
        - coalesce(attempt_steps.recomputed_with_gateway_ratios, 0) as account_discount,
        coalesce(gateway_steps.gateway_without_ratios, 0)
        - (
            coalesce(attempt_steps.recomputed, 0)
            - coalesce(attempt_steps.recomputed_with_gateway_ratios, 0)
        ) as unpriced_usage,
        coalesce(has_export.has_billing_export, false) as has_billing_export,
        -- the provider's credits: the export's credit lines, or without an export the
        -- gateway's own refunds
        case
            when has_export.has_billing_export
                then cast(coalesce(billed_steps.credit_lines, 0) as decimal(38, 18))
            else cast(-coalesce(gateway_refunds.refunded, 0) as decimal(38, 18))
        end as credit_or_refund,
        case
            when has_export.has_billing_export then coalesce(billed_steps.credit_rows, 0)
            else coalesce(gateway_refunds.refund_rows, 0)
        end as credit_rows,
        coalesce(
            not has_export.has_billing_export or credit_match.do_refunds_match_credits, false
        ) as is_credit_verified,
        -- both branches exact to the same scale: a mixed CASE would round to the coarser one
        case
            when has_export.has_billing_export
                then cast(coalesce(billed_steps.billed, 0) as decimal(38, 18))
            else
                cast(
                    coalesce(gateway_steps.gateway, 0) - coalesce(gateway_refunds.refunded, 0)
                    as decimal(38, 18)
                )
        end as billed,
        {{ star_except('ledger_steps', [
            'incident_id', 'service_label', 'forecast', 'timezone_shift', 'stale_rate',
            'rate_missing_from_sheet'
        ]) }},
        {{ star_except('attempt_steps', [
            'incident_id', 'service_label', 'retry_amplification', 'stream_after_disconnect',
            'untracked_job', 'other_unledgered_attempt', 'window_boundary', 'recomputed'
        ]) }},
        {{ star_except('gateway_steps', [
            'incident_id', 'service_label', 'gateway', 'rounding', 'minimum_charge'
        ]) }},
        billed_steps.focus_rows,
        billed_steps.non_usage_focus_rows,
        billed_steps.other_currency_rows,
        billed_steps.edge_crossing_focus_rows,
        billed_steps.edge_crossing_billed
    from labels
    left join has_export on labels.incident_id = has_export.incident_id
    left join credit_match on labels.incident_id = credit_match.incident_id
    left join ledger_steps
        on
            labels.incident_id = ledger_steps.incident_id
            and labels.service_label = ledger_steps.service_label
    left join convention_effect
        on
            labels.incident_id = convention_effect.incident_id
            and labels.service_label = convention_effect.service_label
    left join alias_effect
        on
            labels.incident_id = alias_effect.incident_id
            and labels.service_label = alias_effect.service_label
    left join attempt_steps
        on
            labels.incident_id = attempt_steps.incident_id
            and labels.service_label = attempt_steps.service_label
    left join gateway_steps
        on
            labels.incident_id = gateway_steps.incident_id
            and labels.service_label = gateway_steps.service_label
    left join billed_steps
        on
            labels.incident_id = billed_steps.incident_id
            and labels.service_label = billed_steps.service_label
    left join gateway_refunds
        on
            labels.incident_id = gateway_refunds.incident_id
            and labels.service_label = gateway_refunds.service_label

),

residuals as (

    select
        *,
        recomputed
        - (
            forecast + timezone_shift + stale_rate + rate_missing_from_sheet + alias_mismatch
            + explained_by_conventions + other_parser_mistake + retry_amplification
            + stream_after_disconnect + untracked_job + other_unledgered_attempt
            + missing_from_ledger + window_boundary
        ) as unexplained_recomputation_residual,
        billed - gateway - credit_or_refund as unexplained_residual
    from combined

),

-- the causes each ledger convention explains, one row per incident × label × cause (only
-- where the ledger has rows for the label, as explained_by_conventions above)
convention_rows as (

    select
        residuals.incident_id,
        residuals.service_label,
        residuals.forecast,
        residuals.recomputed,
        residuals.gateway,
        residuals.billed,
        residuals.has_billing_export,
        convention_causes.cause,
        cast(convention_causes.amount_usd as decimal(38, 18)) as amount_usd,
        convention_causes.evidence_count,
        convention_causes.confidence
    from residuals
    inner join convention_causes
        on
            residuals.incident_id = convention_causes.incident_id
            and residuals.service_label = convention_causes.service_label
    where coalesce(residuals.aligned_rows, 0) > 0

),

causes as (

    select
        residuals.incident_id,
        residuals.service_label,
        residuals.forecast,
        residuals.recomputed,
        residuals.gateway,
        residuals.billed,
        residuals.has_billing_export,
        cause_rows.cause,
        cause_rows.amount_usd,
        cause_rows.evidence_count,
        cause_rows.confidence
    from residuals,
        lateral (
            select
                'timezone_shift' as cause,
                cast(timezone_shift as decimal(38, 18)) as amount_usd,
                coalesce(shifted_rows, 0) as evidence_count,
                case
                    when is_alignment_verified then 'verified'
                    when is_alignment_known then 'inferred'
                    else 'unknown'
                end as confidence
            union all
            select
                'stale_rate' as cause,
                cast(stale_rate as decimal(38, 18)) as amount_usd,
                coalesce(restated_rows, 0) as evidence_count,
                case
                    when are_rates_verified then 'verified'
                    else 'inferred'
                end as confidence
            union all
            select
                'rate_missing_from_sheet' as cause,
                cast(rate_missing_from_sheet as decimal(38, 18)) as amount_usd,
                coalesce(unpriced_sheet_rows, 0) as evidence_count,
                case
                    when are_rates_verified then 'verified'
                    else 'inferred'
                end as confidence
            union all
            select
                'alias_mismatch' as cause,
                cast(alias_mismatch as decimal(38, 18)) as amount_usd,
                realiased_attempts as evidence_count,
                case when is_alias_mismatch_verified then 'verified' else 'inferred' end
                    as confidence
            union all
            select
                'missing_from_ledger' as cause,
                cast(missing_from_ledger as decimal(38, 18)) as amount_usd,
                unledgered_label_attempts as evidence_count,
                'verified' as confidence
            union all
            select
                'other_parser_mistake' as cause,
                cast(other_parser_mistake as decimal(38, 18)) as amount_usd,
                coalesce(aligned_rows, 0) as evidence_count,
                'unknown' as confidence
            union all
            select
                'retry_amplification' as cause,
                cast(retry_amplification as decimal(38, 18)) as amount_usd,
                coalesce(retry_attempts, 0) as evidence_count,
                case
                    when is_retry_amplification_verified is false then 'inferred'
                    else 'verified'
                end as confidence
            union all
            select
                'stream_after_disconnect' as cause,
                cast(stream_after_disconnect as decimal(38, 18)) as amount_usd,
                coalesce(disconnect_attempts, 0) as evidence_count,
                case
                    when is_stream_after_disconnect_verified is false then 'inferred'
                    else 'verified'
                end as confidence
            union all
            select
                'untracked_job' as cause,
                cast(untracked_job as decimal(38, 18)) as amount_usd,
                coalesce(untracked_attempts, 0) as evidence_count,
                case
                    when is_untracked_job_verified is false then 'inferred'
                    else 'verified'
                end as confidence
            union all
            select
                'other_unledgered_attempt' as cause,
                cast(other_unledgered_attempt as decimal(38, 18)) as amount_usd,
                coalesce(other_unledgered_attempts, 0) as evidence_count,
                'inferred' as confidence
            union all
            select
                'window_boundary' as cause,
                cast(window_boundary as decimal(38, 18)) as amount_usd,
                coalesce(boundary_attempts, 0) as evidence_count,
                case
                    when is_window_boundary_verified is false then 'inferred'
                    else 'verified'
                end as confidence
            union all
            select
                'unexplained_recomputation_residual' as cause,
                cast(unexplained_recomputation_residual as decimal(38, 18)) as amount_usd,
                coalesce(aligned_rows, 0) as evidence_count,
                'unknown' as confidence
            union all
            select
                'rounding' as cause,
                cast(rounding as decimal(38, 18)) as amount_usd,
                coalesce(rounded_rows, 0) as evidence_count,
                'inferred' as confidence
            union all
            select
                'minimum_charge' as cause,
                cast(minimum_charge as decimal(38, 18)) as amount_usd,
                coalesce(minimum_rows, 0) as evidence_count,
                'inferred' as confidence
            union all
            select
                'account_discount' as cause,
                cast(account_discount as decimal(38, 18)) as amount_usd,
                coalesce(discounted_rows, 0) as evidence_count,
                'inferred' as confidence
            union all
            select
                'credit_or_refund' as cause,
                credit_or_refund as amount_usd,
                credit_rows as evidence_count,
                case when is_credit_verified then 'verified' else 'inferred' end as confidence
            union all
            select
                'unpriced_usage' as cause,
                cast(unpriced_usage as decimal(38, 18)) as amount_usd,
                coalesce(rows_without_ratios, 0) as evidence_count,
                'unknown' as confidence
            union all
            select
                'unexplained_residual' as cause,
                cast(unexplained_residual as decimal(38, 18)) as amount_usd,
                coalesce(non_usage_focus_rows, 0) as evidence_count,
                'unknown' as confidence
        ) as cause_rows

),

final as (

    select * from causes
    union all
    select * from convention_rows

)

select * from final
