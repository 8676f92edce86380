-- Every aligned ledger bucket beside the canonical quantities of the attempts it should
-- hold: the final successful attempt of each logical request of its tenant and label sent
-- inside [bucket_start_utc, bucket_end_utc). B input without cache, R cache reads, W cache
-- writes, O output (reasoning included), Z the reasoning part of O, N those attempts, and
-- A every app attempt of the tenant and label sent in the bucket, whatever its outcome. A
-- bucket without a tenant holds every tenant. The ledger's conventions are read from here.
{% set max_bucket_minutes = 44640 %}
{% set every_tenant = "'(every tenant)'" %}

with

buckets as (

    select * from {{ ref('int_ledger_buckets_aligned') }}

),

app as (

    select * from {{ ref('int_app_attempts_deduplicated') }}
    where
        sent_at >= (select min(bucket_start_utc) from buckets)
        and sent_at < (select max(bucket_end_utc) from buckets)

),

minutes as (

    {{ integer_series(0, max_bucket_minutes, 'minute_index') }}

),

attempt_usage as (

    select
        coalesce(app.tenant, '') as app_tenant_key,
        app.service_label,
        {{ floor_to_minutes('app.sent_at', 1) }} as sent_minute,
        app.is_final_success,
        {{ response_usage_quantities('app', with_reasoning=true) }}
    from app

),

-- the attempts read once, per tenant, label and minute
usage_by_tenant_minute as (

    select
        app_tenant_key as tenant_key,
        service_label,
        sent_minute,
        coalesce(sum(input_quantity) filter (where is_final_success), 0) as input_quantity,
        coalesce(sum(input_cache_read_quantity) filter (where is_final_success), 0)
            as input_cache_read_quantity,
        coalesce(sum(input_cache_write_quantity) filter (where is_final_success), 0)
            as input_cache_write_quantity,
        coalesce(sum(output_quantity) filter (where is_final_success), 0) as output_quantity,
        coalesce(sum(reasoning_quantity) filter (where is_final_success), 0)
            as reasoning_quantity,
        count(*) filter (where is_final_success) as logical_requests,
        count(*) as attempts
    from attempt_usage
    group by app_tenant_key, service_label, sent_minute

),

-- and rolled up over every tenant, for ledger buckets without a tenant
usage_by_minute as (

    select * from usage_by_tenant_minute
    union all
    select
        {{ every_tenant }} as tenant_key,
        service_label,
        sent_minute,
        sum(input_quantity) as input_quantity,
        sum(input_cache_read_quantity) as input_cache_read_quantity,
        sum(input_cache_write_quantity) as input_cache_write_quantity,
        sum(output_quantity) as output_quantity,
        sum(reasoning_quantity) as reasoning_quantity,
        sum(logical_requests) as logical_requests,
        sum(attempts) as attempts
    from usage_by_tenant_minute
    group by service_label, sent_minute

),

bucket_minutes as (

    select
        buckets.ledger_bucket_key,
        coalesce(buckets.tenant, {{ every_tenant }}) as tenant_key,
        buckets.service_label,
        {{ floor_to_minutes('buckets.bucket_start_utc', 1) }}
        + {{ interval_of('minutes.minute_index', 'minute') }} as sent_minute
    from buckets
    inner join minutes on minutes.minute_index < buckets.bucket_minutes

),

matched as (

    select
        bucket_minutes.ledger_bucket_key,
        coalesce(sum(usage_by_minute.input_quantity), 0) as input_quantity,
        coalesce(sum(usage_by_minute.input_cache_read_quantity), 0) as input_cache_read_quantity,
        coalesce(sum(usage_by_minute.input_cache_write_quantity), 0)
            as input_cache_write_quantity,
        coalesce(sum(usage_by_minute.output_quantity), 0) as output_quantity,
        coalesce(sum(usage_by_minute.reasoning_quantity), 0) as reasoning_quantity,
        coalesce(sum(usage_by_minute.logical_requests), 0) as logical_requests,
        coalesce(sum(usage_by_minute.attempts), 0) as attempts
    from bucket_minutes
    left join usage_by_minute
        on
            bucket_minutes.tenant_key = usage_by_minute.tenant_key
            and bucket_minutes.service_label = usage_by_minute.service_label
            and bucket_minutes.sent_minute = usage_by_minute.sent_minute
    group by bucket_minutes.ledger_bucket_key

),

final as (

    select
        buckets.ledger_bucket_key,
        coalesce(buckets.ledger_source, buckets.source_path) as ledger_source,
        buckets.source_path,
        buckets.tenant,
        buckets.service_label,
        buckets.bucket_start_utc,
        buckets.bucket_end_utc,
        buckets.bucket_minutes,
        buckets.time_alignment_confidence,
        buckets.input_tokens,
        buckets.cached_tokens,
        buckets.output_tokens,
        buckets.request_count,
        buckets.declared_input_tokens_convention,
        buckets.declared_cached_tokens_convention,
        buckets.declared_output_tokens_convention,
        buckets.declared_request_count_convention,
        matched.input_quantity,
        matched.input_cache_read_quantity,
        matched.input_cache_write_quantity,
        matched.output_quantity,
        matched.reasoning_quantity,
        matched.logical_requests,
        matched.attempts
    from buckets
    inner join matched on buckets.ledger_bucket_key = matched.ledger_bucket_key

)

select * from final
