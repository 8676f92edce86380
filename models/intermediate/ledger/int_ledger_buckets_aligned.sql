-- Ledger buckets placed in true UTC. A declared timezone (column or sidecar) or an
-- explicit offset is `verified`, whatever the offset (+05:30, +05:45). Without one, the
-- ledger file's offset is inferred by matching its per-bucket token profile to the
-- gateway's, trying every offset from -12:00 to +14:00 in steps of the file's bucket size
-- (an hour at most, a quarter of an hour at least): `inferred`. When that cannot be done
-- the clock time is taken as UTC and labelled `unknown`.
{% set earliest_offset_minutes = -12 * 60 %}
{% set latest_offset_minutes = 14 * 60 %}
{% set slot_minutes = 15 %}

with

buckets as (

    select * from {{ ref('stg_ledger__usage_buckets') }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

undeclared_buckets as (

    select
        source_path,
        bucket_start_as_read,
        bucket_minutes,
        sum(request_count) as ledger_requests,
        sum(input_tokens + output_tokens) as ledger_tokens
    from buckets
    where bucket_start_declared_utc is null
    group by source_path, bucket_start_as_read, bucket_minutes

),

-- the step of the offsets tried for a file: its bucket size, within [15, 60] minutes
file_steps as (

    select
        source_path,
        case
            when min(bucket_minutes) % 60 = 0 then 60
            when min(bucket_minutes) % 30 = 0 then 30
            else {{ slot_minutes }}
        end as step_minutes
    from undeclared_buckets
    group by source_path

),

-- the span of gateway billing times an undeclared bucket can match under some offset
undeclared_span as (

    select
        min(bucket_start_as_read)
        - {{ interval_of(latest_offset_minutes, 'minute') }} as earliest_billed_at,
        max(bucket_start_as_read + {{ interval_of('bucket_minutes', 'minute') }})
        + {{ interval_of(-earliest_offset_minutes, 'minute') }} as latest_billed_at
    from undeclared_buckets

),

-- the gateway's tokens per quarter hour inside that span (none when every bucket
-- declares its timezone)
gateway_billed as (

    select
        {{ floor_to_minutes('billed_at', slot_minutes) }} as slot_start,
        coalesce(prompt_tokens, 0) + coalesce(completion_tokens, 0) as gateway_tokens
    from {{ ref('stg_gateway__logs') }}
    where
        log_type_name = 'consume'
        and billed_at >= (select earliest_billed_at from undeclared_span)
        and billed_at < (select latest_billed_at from undeclared_span)

),

gateway_slots as (

    select
        slot_start,
        count(*) as gateway_requests,
        sum(gateway_tokens) as gateway_tokens
    from gateway_billed
    group by slot_start

),

candidate_offsets as (

    {{ integer_series(
        earliest_offset_minutes // slot_minutes,
        latest_offset_minutes // slot_minutes + 1,
        'offset_slots'
    ) }}

),

slot_indexes as (

    {{ integer_series(0, 24 * 60 // slot_minutes, 'slot_index') }}

),

-- the quarter hours each undeclared bucket covers, as read
covered_slots as (

    select
        undeclared_buckets.source_path,
        undeclared_buckets.bucket_start_as_read,
        undeclared_buckets.ledger_requests,
        undeclared_buckets.ledger_tokens,
        {{ floor_to_minutes('undeclared_buckets.bucket_start_as_read', slot_minutes) }}
        + {{ interval_of('slot_indexes.slot_index * ' ~ slot_minutes, 'minute') }}
            as slot_start_as_read
    from undeclared_buckets
    inner join slot_indexes
        on slot_indexes.slot_index * {{ slot_minutes }} < undeclared_buckets.bucket_minutes

),

-- each of them under every offset its file's step allows
bucket_slots as (

    select
        covered_slots.source_path,
        covered_slots.bucket_start_as_read,
        covered_slots.ledger_requests,
        covered_slots.ledger_tokens,
        candidate_offsets.offset_slots * {{ slot_minutes }} as offset_minutes,
        covered_slots.slot_start_as_read
        - {{ interval_of('candidate_offsets.offset_slots * ' ~ slot_minutes, 'minute') }}
            as slot_start
    from covered_slots
    inner join file_steps on covered_slots.source_path = file_steps.source_path
    cross join candidate_offsets
    where (candidate_offsets.offset_slots * {{ slot_minutes }}) % file_steps.step_minutes = 0

),

-- every bucket of the file under every offset, with what the gateway billed in it (0 where
-- it billed nothing: a profile matched on a few overlapping buckets only would favour an
-- offset that overlaps little)
bucket_fit as (

    select
        bucket_slots.source_path,
        bucket_slots.offset_minutes,
        bucket_slots.bucket_start_as_read,
        any_value(bucket_slots.ledger_requests) as ledger_requests,
        any_value(bucket_slots.ledger_tokens) as ledger_tokens,
        coalesce(sum(gateway_slots.gateway_requests), 0) as gateway_requests,
        coalesce(sum(gateway_slots.gateway_tokens), 0) as gateway_tokens
    from bucket_slots
    left join gateway_slots on bucket_slots.slot_start = gateway_slots.slot_start
    group by
        bucket_slots.source_path, bucket_slots.offset_minutes, bucket_slots.bucket_start_as_read

),

-- the request profile first (whatever the ledger's token conventions, its requests follow
-- the gateway's billed calls), the token profile where the ledger counts no requests
offset_fit as (

    select
        source_path,
        offset_minutes,
        count(*) filter (where gateway_requests > 0) as matched_buckets,
        coalesce(
            corr(ledger_requests, gateway_requests), corr(ledger_tokens, gateway_tokens)
        ) as profile_correlation
    from bucket_fit
    group by source_path, offset_minutes

),

best_offset as (

    select
        source_path,
        max_by(offset_minutes, profile_correlation) as inferred_offset_minutes,
        max(profile_correlation) as best_correlation,
        max_by(matched_buckets, profile_correlation) as matched_buckets
    from offset_fit
    where matched_buckets >= 3 and profile_correlation is not null
    group by source_path

),

aligned as (

    select
        buckets.*,
        coalesce(aliases.service_label, buckets.model) as service_label,
        best_offset.inferred_offset_minutes,
        best_offset.inferred_offset_minutes / 60.0 as inferred_offset_hours,
        best_offset.best_correlation as inferred_offset_correlation,
        coalesce(
            buckets.bucket_start_declared_utc,
            buckets.bucket_start_as_read
            - {{ interval_of('best_offset.inferred_offset_minutes', 'minute') }},
            buckets.bucket_start_as_read
        ) as bucket_start_utc,
        case
            when buckets.bucket_start_declared_utc is not null then 'verified'
            when best_offset.inferred_offset_minutes is not null then 'inferred'
            else 'unknown'
        end as time_alignment_confidence
    from buckets
    left join aliases on buckets.model = aliases.alias
    left join best_offset on buckets.source_path = best_offset.source_path

)

select
    *,
    bucket_start_utc + {{ interval_of('bucket_minutes', 'minute') }} as bucket_end_utc
from aligned
