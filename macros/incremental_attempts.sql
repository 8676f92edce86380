{#- Incremental attempt models recompute whole requests: every row of a request that a
    newly landed (or replaced) file touches is deleted by the pre-hook and rebuilt from
    all of that request's landed rows, which `int_attempt_changes_detected` lists with the
    time span they lie in (so the scans prune row groups by time). -#}
{% macro is_incremental_build() -%}
    {#- is_incremental(), also false in a unit test (which has no relation of its own) -#}
    {{ return(execute and this is not none and is_incremental()) }}
{%- endmacro %}


{#- `changes`: the change list's relation, given when the caller is not the incremental
    model itself (a test scoped to this build's changes, macros/build_test_scope.sql). -#}
{% macro attempt_change_span(kind, changes=none) -%}
    {%- if changes is none -%}
        {%- if not is_incremental_build() -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set changes = ref('int_attempt_changes_detected') -%}
    {%- endif -%}
    {%- if adapter.get_relation(changes.database, changes.schema, changes.identifier) is none -%}
        {#- not built (a compile without a build, e.g. the linter): recompute everything,
            which the pre-hook's delete matches, so a build stays correct -#}
        {{ return({'recompute_all': true, 'earliest': none, 'latest': none}) }}
    {%- endif -%}
    {%- set query -%}
        select
            count(*) filter (where change_kind = 'recompute_all') > 0,
            min(earliest_at) filter (where change_kind = '{{ kind }}')::varchar,
            max(latest_at) filter (where change_kind = '{{ kind }}')::varchar
        from {{ changes }}
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {{ return({'recompute_all': row[0], 'earliest': row[1], 'latest': row[2], 'changes': changes}) }}
{%- endmacro %}


{#- The change list's span for `kind`, or the constant filter that stands for it: `true`
    (recompute everything: not an incremental build, or the list says recompute_all) or
    `false` (no request of the kind changed). -#}
{% macro change_span_or_constant(kind, changes=none) -%}
    {%- set span = attempt_change_span(kind, changes) -%}
    {%- if span is none or span.recompute_all -%}
        {{ return('true') }}
    {%- elif span.earliest is none -%}
        {{ return('false') }}
    {%- endif -%}
    {{ return(span) }}
{%- endmacro %}


{% macro changed_attempts_filter(key_column, time_column, kind, changes=none) -%}
    {%- set span = change_span_or_constant(kind, changes) -%}
    {%- if span is string -%}
        {{ span }}
    {%- else -%}
        (
            {% if time_column -%}
                {{ within_change_span(time_column, span) }}
                and
            {% endif -%}
            {{ key_column }} in (
                select change_key from {{ span.changes }}
                where change_kind = '{{ kind }}'
            )
        )
    {%- endif -%}
{%- endmacro %}


{#- The time half alone, for wide rows a model joins to a narrow copy of its changed
    requests anyway: the join keeps the changed ones, and the engine builds its hash table
    on the narrow side (a key lookup on the wide rows makes it hash those). -#}
{% macro changed_attempts_span_filter(time_column, kind) -%}
    {%- set span = change_span_or_constant(kind) -%}
    {{ span if span is string else within_change_span(time_column, span) }}
{%- endmacro %}


{% macro within_change_span(time_column, span) -%}
    {{ time_column }} between '{{ span.earliest }}'::timestamptz
    and '{{ span.latest }}'::timestamptz
{%- endmacro %}


{#- CometAPI request ids begin with the time: their range skips other days' row groups -#}
{% macro in_request_ids_and_their_range(column, ids_cte, id_column) -%}
    {{ column }} in (select {{ ids_cte }}.{{ id_column }} from {{ ids_cte }})
    and {{ column }} between (
        select min({{ ids_cte }}.{{ id_column }}) from {{ ids_cte }}
    ) and (
        select max({{ ids_cte }}.{{ id_column }}) from {{ ids_cte }}
    )
{%- endmacro %}


{#- The requests are those the model's `meta.test_scope` names (key, time, kind): the
    scope its tests read in the same build (macros/build_test_scope.sql). -#}
{% macro delete_changed_attempts() -%}
    {%- if is_incremental_build() -%}
        {%- set scope = model.config.meta.test_scope -%}
        delete from {{ this }}
        where {{ changed_attempts_filter(scope['key'], scope['time'], scope['kind']) }}
    {%- else -%}
        select 'full build: nothing to delete'
    {%- endif -%}
{%- endmacro %}


{#- DuckDB keeps the attempt models incremental; Spark's Parquet tables cannot delete the
    rows of a changed request, so there they are rebuilt as tables on every build. -#}
{% macro attempt_materialization() -%}
    {{ return(adapter.dispatch('attempt_materialization', 'cometrecon')()) }}
{%- endmacro %}

{% macro default__attempt_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__attempt_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


{#- Whole UTC days: a model summed by day sums again every day its changed requests fall
    in (all of that day's requests, changed or not). -#}
{% macro changed_days_filter(time_column, kind) -%}
    {%- set span = change_span_or_constant(kind) -%}
    {%- if span is string -%}
        {{ span }}
    {%- else -%}
        {{ time_column }} >= date_trunc('day', '{{ span.earliest }}'::timestamptz)
        and {{ time_column }} < date_trunc('day', '{{ span.latest }}'::timestamptz)
        + interval 1 day
    {%- endif -%}
{%- endmacro %}


{% macro delete_changed_days(time_column, kind) -%}
    {%- if is_incremental_build() -%}
        delete from {{ this }} where {{ changed_days_filter(time_column, kind) }}
    {%- else -%}
        select 'full build: nothing to delete'
    {%- endif -%}
{%- endmacro %}
