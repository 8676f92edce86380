-- What the ledger's conventions cost, bucket by bucket: for each aligned bucket, the
-- difference between the canonical quantities of the attempts it should hold and what the
-- ledger's columns hold under the conventions kept for its source and label, priced at the
-- label's verified rates and split into the cause each convention names
-- (docs/attribution.md, step 4). One row per bucket × cause with a non-zero amount.
with

matched as (

    select * from {{ ref('int_ledger_buckets_matched') }}

),

conventions as (

    select * from {{ ref('int_ledger_conventions_inferred') }}

),

catalog_rates as (

    select * from {{ ref('int_catalog_rates_intervals') }}

),

sheet_rates as (

    select * from {{ ref('int_rate_sheet_intervals') }}

),

-- one row per ledger source × label: the kept convention of every column as coefficients
convention_coefficients as (

    select
        ledger_source,
        service_label,
        max(counts_cache_reads) filter (where ledger_column = 'input_tokens') as input_counts_reads,
        max(counts_cache_writes) filter (where ledger_column = 'input_tokens')
            as input_counts_writes,
        max(counts_cache_reads) filter (where ledger_column = 'cached_tokens')
            as cached_counts_reads,
        max(counts_cache_writes) filter (where ledger_column = 'cached_tokens')
            as cached_counts_writes,
        max(reasoning_times_extra) filter (where ledger_column = 'output_tokens')
            as reasoning_times_extra,
        max(counts_attempts) filter (where ledger_column = 'request_count') as counts_attempts,
        -- a cause rests on the weakest label of the conventions it is read from
        {{ weakest_confidence("confidence", "ledger_column in ('input_tokens', 'cached_tokens')") }}
            as cache_confidence,
        {{ weakest_confidence("confidence", "ledger_column = 'output_tokens'") }}
            as output_confidence,
        {{ weakest_confidence("confidence", "ledger_column = 'request_count'") }}
            as request_confidence
    from conventions
    group by ledger_source, service_label

),

labels_priced as (

    select distinct service_label
    from catalog_rates

),

-- the label's verified rate of every dimension at the bucket's start: the catalog's in
-- force (or its first snapshot), 0 for a dimension the catalog leaves out of a label it
-- lists, the sheet's for a label it does not list
bucket_rates as (

    select
        matched.ledger_bucket_key,
        dimensions.dimension,
        case
            when max(in_force.usd_per_unit) is not null then max(in_force.usd_per_unit)
            when max(first_snapshot.usd_per_unit) is not null then max(first_snapshot.usd_per_unit)
            when max(labels_priced.service_label) is not null then 0
            else coalesce(max(sheet_rates.usd_per_unit), 0)
        end as usd_per_unit
    from matched
    cross join {{ ref('billable_dimensions') }} as dimensions
    left join catalog_rates as in_force
        on
            matched.service_label = in_force.service_label
            and dimensions.dimension = in_force.dimension
            and matched.bucket_start_utc >= in_force.valid_from
            and (in_force.valid_to is null or matched.bucket_start_utc < in_force.valid_to)
    left join catalog_rates as first_snapshot
        on
            matched.service_label = first_snapshot.service_label
            and dimensions.dimension = first_snapshot.dimension
            and first_snapshot.snapshot_number = 1
    left join labels_priced on matched.service_label = labels_priced.service_label
    left join sheet_rates
        on
            matched.service_label = sheet_rates.service_label
            and dimensions.dimension = sheet_rates.dimension
            and matched.bucket_start_utc >= sheet_rates.valid_from
            and (sheet_rates.valid_to is null or matched.bucket_start_utc < sheet_rates.valid_to)
    group by matched.ledger_bucket_key, dimensions.dimension

),

rates_by_bucket as (

    select
        ledger_bucket_key,
        max(usd_per_unit) filter (where dimension = 'input') as input_rate,
        max(usd_per_unit) filter (where dimension = 'input_cache_read') as cache_read_rate,
        max(usd_per_unit) filter (where dimension = 'input_cache_write') as cache_write_rate,
        max(usd_per_unit) filter (where dimension = 'output') as output_rate,
        max(usd_per_unit) filter (where dimension = 'request') as request_rate
    from bucket_rates
    group by ledger_bucket_key

),

terms as (

    select
        matched.ledger_bucket_key,
        matched.ledger_source,
        matched.service_label,
        matched.bucket_start_utc,
        coefficients.input_counts_reads,
        coefficients.input_counts_writes,
        coefficients.cached_counts_reads,
        coefficients.cached_counts_writes,
        coefficients.reasoning_times_extra,
        coefficients.counts_attempts,
        coefficients.cache_confidence,
        coefficients.output_confidence,
        coefficients.request_confidence,
        -- the correct price of the cache reads less what the ledger's columns price them at
        matched.input_cache_read_quantity
        * (
            rates.cache_read_rate
            - coefficients.input_counts_reads * rates.input_rate
            - coefficients.cached_counts_reads * rates.cache_read_rate
        ) as cache_read_term,
        matched.input_cache_write_quantity
        * (
            rates.cache_write_rate
            - coefficients.input_counts_writes * rates.input_rate
            - coefficients.cached_counts_writes * rates.cache_read_rate
        ) as cache_write_term,
        -coefficients.reasoning_times_extra * matched.reasoning_quantity * rates.output_rate
            as reasoning_term,
        -coefficients.counts_attempts
        * (matched.attempts - matched.logical_requests)
        * rates.request_rate as request_term
    from matched
    inner join convention_coefficients as coefficients
        on
            matched.ledger_source = coefficients.ledger_source
            and matched.service_label = coefficients.service_label
    inner join rates_by_bucket as rates on matched.ledger_bucket_key = rates.ledger_bucket_key

),

caused as (

    select
        ledger_bucket_key,
        service_label,
        bucket_start_utc,
        case
            when input_counts_reads = 1 then 'cached_tokens_priced_as_input'
            when cached_counts_reads = 0 then 'cache_reads_omitted'
        end as cause,
        cache_read_term as amount_usd,
        cache_confidence as confidence
    from terms
    union all
    select
        ledger_bucket_key,
        service_label,
        bucket_start_utc,
        case
            when input_counts_writes = 1 then 'cache_writes_priced_as_input'
            when cached_counts_writes = 1 then 'cache_writes_priced_as_cache_reads'
            else 'cache_writes_omitted'
        end as cause,
        cache_write_term as amount_usd,
        cache_confidence as confidence
    from terms
    union all
    select
        ledger_bucket_key,
        service_label,
        bucket_start_utc,
        case
            when reasoning_times_extra > 0 then 'reasoning_tokens_double_counted'
            when reasoning_times_extra < 0 then 'reasoning_tokens_omitted'
        end as cause,
        reasoning_term as amount_usd,
        output_confidence as confidence
    from terms
    union all
    select
        ledger_bucket_key,
        service_label,
        bucket_start_utc,
        case when counts_attempts = 1 then 'attempts_counted_as_requests' end as cause,
        request_term as amount_usd,
        request_confidence as confidence
    from terms

),

final as (

    select
        ledger_bucket_key || ':' || cause as ledger_interpretation_key,
        ledger_bucket_key,
        service_label,
        bucket_start_utc,
        cause,
        cast(amount_usd as decimal(38, 18)) as amount_usd,
        confidence
    from caused
    -- a convention with no known coefficients (no evidence) claims nothing
    where
        cause is not null
        and amount_usd is not null
        and amount_usd <> 0
        and confidence <> 'unknown'

)

select * from final
