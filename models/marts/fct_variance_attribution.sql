-- One row per incident × variance class × cause: the signed USD contribution of that
-- cause to the difference between forecast and billed, the evidence behind it, its
-- confidence and the checklist's action. forecast + Σ amount_usd = billed per incident.
-- claim_status says what the final statement may say about it: only a material amount
-- proven by our own evidence (or documented by the provider's own records, as a credit
-- its refunds match) at a label allowed into a final claim is `explained`.
with

waterfall as (

    select * from {{ ref('int_incident_waterfall_computed') }}

),

causes as (

    select * from {{ ref('variance_causes') }}

),

labels as (

    select * from {{ ref('confidence_labels') }}
    where applies_to = 'rate'

),

-- a cent: below it an amount is immaterial to the statement
materiality as (

    select cast(0.01 as decimal(38, 18)) as threshold_usd

),

ranked as (

    select
        waterfall.*,
        labels.rank as confidence_rank
    from waterfall
    inner join labels on waterfall.confidence = labels.label

),

per_cause as (

    select
        incident_id,
        cause,
        sum(amount_usd) as amount_usd,
        sum(evidence_count) as evidence_count,
        -- the weakest label among the labels that contribute
        coalesce(
            max(confidence_rank) filter (where amount_usd <> 0),
            max(confidence_rank)
        ) as confidence_rank,
        count(*) filter (where amount_usd <> 0) as contributing_labels
    from ranked
    group by incident_id, cause

),

final as (

    select
        per_cause.incident_id || ':' || per_cause.cause as attribution_key,
        per_cause.incident_id,
        causes.variance_class,
        per_cause.cause,
        cast(per_cause.amount_usd as decimal(38, 18)) as amount_usd,
        cast(per_cause.evidence_count as bigint) as evidence_count,
        labels.label as confidence,
        causes.checklist_action as action,
        cast(causes.waterfall_step as integer) as waterfall_step,
        cast(per_cause.contributing_labels as bigint) as contributing_labels,
        case
            when abs(per_cause.amount_usd) < materiality.threshold_usd then 'immaterial'
            when causes.resolved_by not in ('own_evidence', 'provider_records') then 'unresolved'
            when labels.may_enter_final_claim then 'explained'
            else 'likely'
        end as claim_status
    from per_cause
    cross join materiality
    inner join causes on per_cause.cause = causes.cause
    inner join labels on per_cause.confidence_rank = labels.rank

)

select * from final
