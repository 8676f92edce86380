-- What the incremental attempt models must recompute in this build: the requests that
-- files landed since the last recorded build touch (new files and every version of a
-- replaced one), with the time span of all their landed rows so each model reads only
-- the row groups that can hold them. `recompute_all` when there is no recorded build or
-- a first catalog snapshot or a per-request price changed; a later changed rate interval
-- adds every request sent from where the change begins; `watermark` is the newest landed file this
-- build takes in, recorded by on-run-end once every incremental model has succeeded.
-- The landings are read by keys that lie anywhere in the history. Each reader scans the
-- table for its own columns and keys rather than a copy of every landed row (a copy took
-- several times longer on a month of history: docs/benchmarks-history.md); the lookups
-- that can are bounded (a file's rows by path, request ids and rate changes by range).
with

files as (

    select * from {{ ref('stg_ingest__files') }}
    where file_status = 'landed'

),

builds as (

    select * from {{ ref('stg_build_log__incremental_builds') }}

),

app_landings as {{ inlined_cte() }} (

    select * from {{ ref('stg_app__request_attempt_landings') }}

),

gateway_landings as {{ inlined_cte() }} (

    select * from {{ ref('stg_gateway__log_landings') }}

),

rates_now as (

    select
        service_label,
        dimension,
        valid_from,
        valid_to,
        snapshot_number,
        {{ catalog_rate_digest() }} as rate_digest,
        published_rate is not null as has_published_rate
    from {{ ref('int_catalog_rates_intervals') }}

),

rates_built as (

    select * from {{ ref('stg_build_log__catalog_rates_built') }}

),

rate_pairs as (

    select
        coalesce(rates_now.dimension, rates_built.dimension) as dimension,
        rates_now.rate_digest as now_digest,
        rates_built.rate_digest as built_digest,
        rates_now.snapshot_number as now_snapshot_number,
        rates_built.snapshot_number as built_snapshot_number,
        rates_now.has_published_rate as now_has_published_rate,
        rates_built.has_published_rate as built_has_published_rate,
        coalesce(rates_now.valid_from, rates_built.valid_from) as valid_from,
        coalesce(rates_now.valid_to, {{ far_future() }}) as now_valid_to,
        coalesce(rates_built.valid_to, {{ far_future() }}) as built_valid_to
    from rates_now
    full outer join rates_built
        on
            rates_now.service_label = rates_built.service_label
            and rates_now.dimension = rates_built.dimension
            and rates_now.valid_from is not distinct from rates_built.valid_from
            -- two snapshots captured at the same time (or with no capture time) are two
            -- intervals: matched by their number, never each against each
            and rates_now.snapshot_number = rates_built.snapshot_number
    where
        rates_now.rate_digest is distinct from rates_built.rate_digest
        or rates_now.valid_to is distinct from rates_built.valid_to
        or rates_now.snapshot_number is distinct from rates_built.snapshot_number

),

-- an interval whose rate changed (or that came or went) prices differently from its
-- start; one whose end moved, from the earlier of the two ends. A changed first snapshot
-- also prices everything before it; a per-request rate appearing or going changes the
-- `request` quantity of every attempt of the label.
rate_changes as (

    select
        coalesce(
            (
                (now_snapshot_number = 1 or built_snapshot_number = 1)
                and (
                    now_digest is distinct from built_digest
                    or now_snapshot_number is distinct from built_snapshot_number
                )
            )
            or (
                dimension = 'request'
                and now_has_published_rate is distinct from built_has_published_rate
            )
            or valid_from is null,
            false
        ) as changes_everything,
        case
            -- the same rate on both sides: only its end moved
            when coalesce(now_digest, '') = coalesce(built_digest, '')
                then least(now_valid_to, built_valid_to)
            else valid_from
        end as changes_from
    from rate_pairs

),

last_build as (

    select max(changes_through) as changes_through from builds

),

recompute as (

    select
        last_build.changes_through is null
        or exists (
            select 1 from rate_changes
            where rate_changes.changes_everything
        ) as recompute_all,
        (select min(rate_changes.changes_from) from rate_changes) as rates_change_from
    from last_build

),

-- where a changed rate starts pricing differently, as one value (the far future when no
-- rate changed or everything is recomputed), so the scans below skip the row groups before it
rate_change_bound as (

    select
        coalesce(
            case when not recompute.recompute_all then recompute.rates_change_from end,
            {{ far_future() }}
        ) as changes_from
    from recompute

),

changed_files as (

    select files.source_path
    from files
    cross join last_build
    cross join recompute
    where not recompute.recompute_all and files.recorded_at > last_build.changes_through

),

changed_app as (

    select distinct
        app_landings.logical_request_id,
        app_landings.cometapi_request_id
    from app_landings
    where app_landings.source_path in (select changed_files.source_path from changed_files)

),

changed_gateway as (

    select distinct
        gateway_landings.request_key,
        gateway_landings.cometapi_request_id
    from gateway_landings
    where gateway_landings.source_path in (select changed_files.source_path from changed_files)

),

-- a changed gateway row moves the attempt it joins; a changed app row may join another
-- gateway row, or leave one it joined before on its own (`gateway:` + its request id)
joined_app_requests as (

    select changed_app.logical_request_id from changed_app
    union
    select app_landings.logical_request_id
    from app_landings
    where
        {{ in_request_ids_and_their_range(
            'app_landings.cometapi_request_id', 'changed_gateway', 'cometapi_request_id'
        ) }}
    union
    -- sent at or after a changed rate: priced again (sent_at <= landed time, so this
    -- finds every attempt the change can reach)
    select app_landings.logical_request_id
    from app_landings
    where app_landings.sent_at >= (select rate_change_bound.changes_from from rate_change_bound)

),

joined_gateway_only_keys as (

    select changed_gateway.request_key from changed_gateway
    union
    select changed_app.cometapi_request_id from changed_app
    where changed_app.cometapi_request_id is not null
    union
    select gateway_landings.request_key
    from gateway_landings
    where
        gateway_landings.billed_at >= (
            select rate_change_bound.changes_from from rate_change_bound
        )

),

joined_app_landings as (

    select app_landings.*
    from app_landings
    where
        app_landings.logical_request_id in (
            select joined_app_requests.logical_request_id from joined_app_requests
        )

),

joined_gateway_landings as (

    select gateway_landings.*
    from gateway_landings
    where
        gateway_landings.request_key in (
            select joined_gateway_only_keys.request_key from joined_gateway_only_keys
        )
        or gateway_landings.cometapi_request_id in (
            select joined_app_landings.cometapi_request_id from joined_app_landings
        )

),

-- each joined request's span, once per stream; every landed row of a changed request lies
-- in the joined rows (its key is among theirs), so its span is one of these
joined_app_spans as (

    select
        joined_app_landings.logical_request_id as change_key,
        min(joined_app_landings.sent_at) as earliest_at,
        max(joined_app_landings.sent_at) as latest_at
    from joined_app_landings
    group by joined_app_landings.logical_request_id

),

joined_gateway_spans as (

    select
        joined_gateway_landings.request_key as change_key,
        min(joined_gateway_landings.billed_at) as earliest_at,
        max(joined_gateway_landings.billed_at) as latest_at
    from joined_gateway_landings
    group by joined_gateway_landings.request_key

),

app_requests as (

    select * from joined_app_spans
    where change_key in (select changed_app.logical_request_id from changed_app)

),

gateway_requests as (

    select * from joined_gateway_spans
    where
        change_key in (select changed_gateway.request_key from changed_gateway)

),

joined_requests as (

    select * from joined_app_spans
    union all
    select
        'gateway:' || joined_gateway_spans.change_key as change_key,
        joined_gateway_spans.earliest_at,
        joined_gateway_spans.latest_at
    from joined_gateway_spans
    where
        joined_gateway_spans.change_key in (
            select joined_gateway_only_keys.request_key from joined_gateway_only_keys
        )

),

changes as (

    select
        'watermark' as change_kind,
        null as change_key,
        cast(null as {{ timestamptz_type() }}) as earliest_at,
        max(files.recorded_at) as latest_at
    from files
    union all
    select
        'recompute_all' as change_kind,
        null as change_key,
        cast(null as {{ timestamptz_type() }}) as earliest_at,
        cast(null as {{ timestamptz_type() }}) as latest_at
    from recompute
    where recompute.recompute_all
    union all
    select
        'app_request' as change_kind,
        *
    from app_requests
    union all
    select
        'gateway_request' as change_kind,
        *
    from gateway_requests
    union all
    select
        'joined_request' as change_kind,
        *
    from joined_requests
    union all
    select
        'joined_gateway_request' as change_kind,
        *
    from joined_gateway_spans

),

final as (

    select
        change_kind || ':' || coalesce(change_key, '') as attempt_change_key,
        change_kind,
        change_key,
        earliest_at,
        latest_at
    from changes

)

select * from final
