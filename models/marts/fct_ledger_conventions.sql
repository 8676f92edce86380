-- One row per usage-ledger source × service label × quantity column: what the column was
-- found to hold (the convention kept), how well it fits the attempts the ledger should
-- hold, whether another convention fits as well, and its confidence: `verified` when the
-- ledger's sidecar declares it, `inferred` from the evidence, `unknown` without evidence.
with

conventions as (

    select * from {{ ref('int_ledger_conventions_inferred') }}

),

candidates as (

    select * from {{ ref('ledger_conventions') }}

),

final as (

    select
        conventions.ledger_convention_key,
        conventions.ledger_source,
        conventions.service_label,
        conventions.ledger_column,
        conventions.convention,
        candidates.description as convention_description,
        conventions.confidence,
        conventions.is_declared,
        conventions.best_fitting_convention,
        cast(conventions.residual as bigint) as residual,
        cast(coalesce(conventions.buckets_compared, 0) as bigint) as buckets_compared,
        cast(coalesce(conventions.buckets_exact, 0) as bigint) as buckets_exact,
        cast(conventions.buckets_with_attempts as bigint) as buckets_with_attempts,
        conventions.is_tie,
        conventions.tied_conventions
    from conventions
    left join candidates
        on
            conventions.ledger_column = candidates.ledger_column
            and conventions.convention = candidates.convention

)

select * from final
