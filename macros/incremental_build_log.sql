{#- The build log the incremental attempt models read their starting point from.
    on-run-start creates it; on-run-end records a build only when every model tagged
    `incremental_attempts` succeeded in it, so a failed or partial build is redone. -#}
{% macro create_incremental_build_log() -%}
    {{ return(adapter.dispatch('create_incremental_build_log', 'cometrecon')()) }}
{%- endmacro %}

{% macro default__create_incremental_build_log() -%}
    create schema if not exists build_log;
    create table if not exists build_log.incremental_builds (
        invocation_id varchar not null,
        changes_through timestamptz not null,
        was_full_refresh boolean not null,
        finished_at timestamptz not null,
        project_hash varchar
    );
    alter table build_log.incremental_builds add column if not exists project_hash varchar;
    create table if not exists build_log.catalog_rates_built (
        service_label varchar,
        dimension varchar,
        valid_from timestamptz,
        valid_to timestamptz,
        snapshot_number bigint,
        rate_digest varchar,
        has_published_rate boolean
    );
    alter table build_log.catalog_rates_built add column if not exists has_published_rate boolean
{%- endmacro %}

{#- Spark runs one statement at a time and rebuilds the attempt models as tables every
    time (Parquet tables cannot delete rows), so its build log stays empty: the change
    list then says recompute_all. -#}
{% macro spark__create_incremental_build_log() -%}
    {%- if execute -%}
        {%- do run_query('create database if not exists build_log') -%}
        {%- do run_query(
            'create table if not exists build_log.incremental_builds (invocation_id string,'
            ~ ' changes_through timestamp, was_full_refresh boolean, finished_at timestamp,'
            ~ ' project_hash string) using parquet'
        ) -%}
        {%- do run_query(
            'create table if not exists build_log.catalog_rates_built (service_label string,'
            ~ ' dimension string, valid_from timestamp, valid_to timestamp,'
            ~ ' snapshot_number bigint, rate_digest string, has_published_rate boolean)'
            ~ ' using parquet'
        ) -%}
    {%- endif -%}
    select 1 as build_log_ready
{%- endmacro %}


{#- What of a catalog rate interval the attempt models price with, as one digest. -#}
{% macro catalog_rate_digest() -%}
    md5(concat_ws(
        '|', cast(published_rate as string), cast(unit_size as string), cast(usd_per_unit as string),
        currency, rate_confidence, source_url, cast(captured_at as string)
    ))
{%- endmacro %}


{% macro record_incremental_build(results) -%}
    {{ return(adapter.dispatch('record_incremental_build', 'cometrecon')(results)) }}
{%- endmacro %}

{% macro spark__record_incremental_build(results) -%}
    select 'spark rebuilds the attempt models in full: nothing recorded'
{%- endmacro %}

{% macro default__record_incremental_build(results) -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tagged = [] -%}
    {%- set changes_relation = [] -%}
    {%- set rates_relation = [] -%}
    {%- for node in graph.nodes.values() -%}
        {%- if node.resource_type == 'model' and 'incremental_attempts' in node.tags -%}
            {%- do tagged.append(node.unique_id) -%}
        {%- endif -%}
        {%- if node.resource_type == 'model' and node.name == 'int_attempt_changes_detected' -%}
            {%- do changes_relation.append(node.relation_name) -%}
        {%- endif -%}
        {%- if node.resource_type == 'model' and node.name == 'int_catalog_rates_intervals' -%}
            {%- do rates_relation.append(node.relation_name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set succeeded = [] -%}
    {%- for result in results -%}
        {%- if result.node.unique_id in tagged and result.status == 'success' -%}
            {%- do succeeded.append(result.node.unique_id) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if tagged and succeeded | length == tagged | length -%}
        insert into build_log.incremental_builds
        select
            '{{ invocation_id }}',
            max(latest_at),
            {{ 'true' if flags.FULL_REFRESH else 'false' }},
            now(),
            '{{ env_var("COMETRECON_PROJECT_HASH", "") }}'
        from {{ changes_relation[0] }}
        where change_kind = 'watermark' and latest_at is not null
        having max(latest_at) is not null;
        delete from build_log.catalog_rates_built;
        insert into build_log.catalog_rates_built
        select
            service_label, dimension, valid_from, valid_to, snapshot_number,
            {{ catalog_rate_digest() }},
            published_rate is not null
        from {{ rates_relation[0] }}
    {%- else -%}
        select 'incremental attempt models not all built: nothing recorded'
    {%- endif -%}
{%- endmacro %}
