{#- On Spark the raw tables are Parquet files exported from the DuckDB warehouse
    (`cometrecon export-parquet`): each declared raw source becomes an external table
    over `<COMETRECON_SPARK_RAW>/<table>/`, a relative folder taken inside the Spark folder
    (beside its warehouse; Spark would not resolve a relative table location against the
    working directory). DuckDB reads its own raw schema: nothing to do. -#}
{% macro register_raw_parquet() -%}
    {{ return(adapter.dispatch('register_raw_parquet', 'cometrecon')()) }}
{%- endmacro %}

{% macro default__register_raw_parquet() -%}
    select 1 as raw_tables_are_local
{%- endmacro %}

{% macro spark__register_raw_parquet() -%}
    {%- if execute -%}
        {%- set raw_dir = env_var('COMETRECON_SPARK_RAW', 'raw') -%}
        {%- if not (raw_dir.startswith('/') or ':' in raw_dir) -%}
            {%- set warehouse = run_query('set spark.sql.warehouse.dir').rows[0][1] -%}
            {%- set raw_dir = warehouse.rsplit('/', 1)[0] ~ '/' ~ raw_dir -%}
        {%- endif -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for source in graph.sources.values() if source.schema == 'raw' -%}
            {%- do run_query('drop table if exists raw.' ~ source.identifier) -%}
            {%- do run_query(
                'create table raw.' ~ source.identifier ~ ' using parquet location \''
                ~ raw_dir ~ '/' ~ source.identifier ~ '\''
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    select 1 as raw_tables_registered
{%- endmacro %}
