-- One row per incident × requested label × billed label where the gateway billed requests
-- under another label than the application asked for (same X-Cometapi-Request-Id, the
-- `model_aliases` seed's true renames excepted): how many attempts, and what they cost at
-- the billed label's rates. The support packet lists these pairs; the repricing of the
-- ledgered ones is `alias_mismatch` in fct_variance_attribution.
with

attempts as (

    select * from {{ ref('int_incident_attempts_attributed') }}

),

substituted as (

    select
        incident_id,
        requested_label,
        service_label as billed_label,
        count(*) as attempts,
        count(*) filter (where is_ledgered_attempt) as ledgered_attempts,
        sum(cost) as cost_usd,
        min(sent_at) as first_sent_at,
        max(sent_at) as last_sent_at
    from attempts
    where requested_label <> service_label and (is_sent_in_window or is_billed_in_window)
    group by incident_id, requested_label, service_label

),

final as (

    select
        incident_id || ':' || requested_label || ':' || billed_label as label_substitution_key,
        incident_id,
        requested_label,
        billed_label,
        cast(attempts as bigint) as attempts,
        cast(ledgered_attempts as bigint) as ledgered_attempts,
        cast(cost_usd as decimal(38, 18)) as cost_usd,
        first_sent_at,
        last_sent_at
    from substituted

)

select * from final
