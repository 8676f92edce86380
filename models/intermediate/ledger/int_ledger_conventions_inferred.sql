-- What each quantity column of the usage ledger holds, per ledger source × label × column,
-- read from the evidence (docs/attribution.md): every candidate convention of the
-- `ledger_conventions` seed predicts the column from the canonical quantities of the
-- attempts each bucket should hold; the one with the smallest total absolute difference
-- over the source's buckets is kept (on a tie, the lowest candidate_rank, and the tie is
-- shown). A convention the ledger's sidecar declares is kept as declared (`verified`);
-- an inferred one is `inferred`; with no attempt to compare against, `unknown`.
with

matched as (

    select * from {{ ref('int_ledger_buckets_matched') }}

),

candidates as (

    select * from {{ ref('ledger_conventions') }}

),

-- one row per bucket × ledger column: the column's value and the canonical quantity it
-- starts from under every convention (input, none, output, logical requests)
observations as (

    select
        ledger_source,
        service_label,
        'input_tokens' as ledger_column,
        input_tokens as ledger_value,
        input_quantity as base_quantity,
        declared_input_tokens_convention as declared_convention,
        input_cache_read_quantity,
        input_cache_write_quantity,
        reasoning_quantity,
        logical_requests,
        attempts
    from matched
    where input_tokens is not null
    union all
    select
        ledger_source,
        service_label,
        'cached_tokens' as ledger_column,
        -- an empty cached_tokens column holds no cache tokens
        coalesce(cached_tokens, 0) as ledger_value,
        0 as base_quantity,
        declared_cached_tokens_convention as declared_convention,
        input_cache_read_quantity,
        input_cache_write_quantity,
        reasoning_quantity,
        logical_requests,
        attempts
    from matched
    union all
    select
        ledger_source,
        service_label,
        'output_tokens' as ledger_column,
        output_tokens as ledger_value,
        output_quantity as base_quantity,
        declared_output_tokens_convention as declared_convention,
        input_cache_read_quantity,
        input_cache_write_quantity,
        reasoning_quantity,
        logical_requests,
        attempts
    from matched
    where output_tokens is not null
    union all
    select
        ledger_source,
        service_label,
        'request_count' as ledger_column,
        request_count as ledger_value,
        logical_requests as base_quantity,
        declared_request_count_convention as declared_convention,
        input_cache_read_quantity,
        input_cache_write_quantity,
        reasoning_quantity,
        logical_requests,
        attempts
    from matched
    where request_count is not null

),

fits as (

    select
        observations.ledger_source,
        observations.service_label,
        observations.ledger_column,
        candidates.convention,
        candidates.candidate_rank,
        sum(
            abs(
                observations.ledger_value
                - (
                    observations.base_quantity
                    + candidates.counts_cache_reads * observations.input_cache_read_quantity
                    + candidates.counts_cache_writes * observations.input_cache_write_quantity
                    + candidates.reasoning_times_extra * observations.reasoning_quantity
                    + candidates.counts_attempts
                    * (observations.attempts - observations.logical_requests)
                )
            )
        ) as residual,
        count(*) as buckets_compared,
        count(*) filter (
            where
            observations.ledger_value
            = observations.base_quantity
            + candidates.counts_cache_reads * observations.input_cache_read_quantity
            + candidates.counts_cache_writes * observations.input_cache_write_quantity
            + candidates.reasoning_times_extra * observations.reasoning_quantity
            + candidates.counts_attempts * (observations.attempts - observations.logical_requests)
        ) as buckets_exact,
        count(*) filter (where observations.attempts > 0) as buckets_with_attempts,
        max(observations.declared_convention) as declared_convention
    from observations
    inner join candidates on observations.ledger_column = candidates.ledger_column
    group by
        observations.ledger_source,
        observations.service_label,
        observations.ledger_column,
        candidates.convention,
        candidates.candidate_rank

),

ranked as (

    select
        *,
        row_number() over (
            partition by ledger_source, service_label, ledger_column
            order by residual, candidate_rank
        ) as fit_rank,
        min(residual) over (
            partition by ledger_source, service_label, ledger_column
        ) as best_residual
    from fits

),

ties as (

    select
        ledger_source,
        service_label,
        ledger_column,
        count(*) as tied_candidates,
        {{ ordered_string_agg('convention', "', '", 'candidate_rank') }} as tied_conventions
    from ranked
    where residual = best_residual
    group by ledger_source, service_label, ledger_column

),

chosen as (

    select
        ranked.ledger_source,
        ranked.service_label,
        ranked.ledger_column,
        ranked.declared_convention,
        ranked.buckets_with_attempts,
        case
            when ranked.declared_convention is not null then ranked.declared_convention
            when ranked.buckets_with_attempts > 0 then ranked.convention
        end as convention,
        case
            when ranked.declared_convention is not null then 'verified'
            when ranked.buckets_with_attempts > 0 then 'inferred'
            else 'unknown'
        end as confidence,
        ranked.convention as best_fitting_convention,
        ranked.residual as best_fitting_residual,
        ties.tied_candidates,
        ties.tied_conventions
    from ranked
    inner join ties
        on
            ranked.ledger_source = ties.ledger_source
            and ranked.service_label = ties.service_label
            and ranked.ledger_column = ties.ledger_column
    where ranked.fit_rank = 1

),

final as (

    select
        chosen.ledger_source || ':' || chosen.service_label || ':' || chosen.ledger_column
            as ledger_convention_key,
        chosen.ledger_source,
        chosen.service_label,
        chosen.ledger_column,
        chosen.convention,
        chosen.confidence,
        chosen.declared_convention is not null as is_declared,
        chosen.best_fitting_convention,
        -- the kept convention's fit (a declared one may fit worse than the best)
        fits.residual,
        fits.buckets_compared,
        fits.buckets_exact,
        chosen.buckets_with_attempts,
        chosen.tied_candidates > 1 and chosen.confidence = 'inferred' as is_tie,
        chosen.tied_conventions,
        coalesce(kept.counts_cache_reads, 0) as counts_cache_reads,
        coalesce(kept.counts_cache_writes, 0) as counts_cache_writes,
        coalesce(kept.reasoning_times_extra, 0) as reasoning_times_extra,
        coalesce(kept.counts_attempts, 0) as counts_attempts
    from chosen
    left join fits
        on
            chosen.ledger_source = fits.ledger_source
            and chosen.service_label = fits.service_label
            and chosen.ledger_column = fits.ledger_column
            and chosen.convention = fits.convention
    left join candidates as kept
        on
            chosen.ledger_column = kept.ledger_column
            and chosen.convention = kept.convention

)

select * from final
