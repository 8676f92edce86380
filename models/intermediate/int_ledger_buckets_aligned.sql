-- Ledger buckets placed in true UTC. A declared timezone (column or sidecar) or an
-- explicit offset is `verified`. Without one, the ledger file's whole-hour offset is
-- inferred by matching its hourly token profile to the gateway's (`inferred`); when
-- that cannot be done the clock time is taken as UTC and labelled `unknown`.
{% set earliest_offset_hours = -12 %}
{% set latest_offset_hours = 14 %}

with

buckets as (

    select * from {{ ref('stg_ledger__usage_buckets') }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

undeclared_hours as (

    select
        source_path,
        date_trunc('hour', bucket_start_as_read) as hour_as_read,
        sum(input_tokens + output_tokens) as ledger_tokens
    from buckets
    where bucket_start_declared_utc is null
    group by 1, 2

),

-- only the gateway hours an undeclared hour can match under some candidate offset
-- (none when every bucket declares its timezone): not the whole history's log
gateway_hours as (

    select
        date_trunc('hour', billed_at) as hour_start,
        sum(coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0)) as gateway_tokens
    from {{ ref('stg_gateway__logs') }}
    where
        log_type_name = 'consume'
        and billed_at >= (
            select min(hour_as_read) - {{ interval_of(latest_offset_hours, 'hour') }}
            from undeclared_hours
        )
        and billed_at < (
            select max(hour_as_read) + {{ interval_of(1 - earliest_offset_hours, 'hour') }}
            from undeclared_hours
        )
    group by 1

),

candidate_offsets as (

    {{ integer_series(earliest_offset_hours, latest_offset_hours + 1, 'offset_hours') }}

),

offset_fit as (

    select
        undeclared_hours.source_path,
        candidate_offsets.offset_hours,
        count(gateway_hours.gateway_tokens) as matched_hours,
        corr(undeclared_hours.ledger_tokens, gateway_hours.gateway_tokens) as profile_correlation
    from undeclared_hours
    cross join candidate_offsets
    left join gateway_hours
        on
            undeclared_hours.hour_as_read
            - {{ interval_of('candidate_offsets.offset_hours', 'hour') }}
            = gateway_hours.hour_start
    group by 1, 2

),

best_offset as (

    select
        source_path,
        max_by(offset_hours, profile_correlation) as inferred_offset_hours,
        max(profile_correlation) as best_correlation,
        max_by(matched_hours, profile_correlation) as matched_hours
    from offset_fit
    where matched_hours >= 3 and profile_correlation is not null
    group by 1

),

aligned as (

    select
        buckets.*,
        coalesce(aliases.service_label, buckets.model) as service_label,
        best_offset.inferred_offset_hours,
        best_offset.best_correlation as inferred_offset_correlation,
        coalesce(
            buckets.bucket_start_declared_utc,
            buckets.bucket_start_as_read
            - {{ interval_of('best_offset.inferred_offset_hours', 'hour') }},
            buckets.bucket_start_as_read
        ) as bucket_start_utc,
        case
            when buckets.bucket_start_declared_utc is not null then 'verified'
            when best_offset.inferred_offset_hours is not null then 'inferred'
            else 'unknown'
        end as time_alignment_confidence
    from buckets
    left join aliases on buckets.model = aliases.alias
    left join best_offset on buckets.source_path = best_offset.source_path

)

select * from aligned
