{#- Two dbt-spark behaviours replaced for this project (root-project macros take
    precedence over the adapter's). -#}

{#- Seeds: dbt-spark's session cursor splices bindings into the statement unescaped, so a
    value with an apostrophe breaks the insert. Each value becomes a literal: backslashes
    are literal (the profile sets escapedStringLiterals, as DuckDB reads them), and a value
    holding an apostrophe is written in double quotes. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set rows = [] -%}
    {%- for row in agate_table.rows -%}
        {%- set values = [] -%}
        {%- for value in row -%}
            {%- set column_name = agate_table.column_names[loop.index0] -%}
            {%- set column_type = column_override.get(
                column_name, adapter.convert_type(agate_table, loop.index0)) -%}
            {%- if value is none -%}
                {%- do values.append('cast(null as ' ~ column_type ~ ')') -%}
            {%- else -%}
                {%- set text = value | string -%}
                {%- if "'" not in text -%}
                    {%- do values.append("cast('" ~ text ~ "' as " ~ column_type ~ ")") -%}
                {%- elif '"' not in text -%}
                    {%- do values.append('cast("' ~ text ~ '" as ' ~ column_type ~ ')') -%}
                {%- else -%}
                    {{ exceptions.raise_compiler_error(
                        'seed ' ~ this ~ ': a value holds both quote characters: ' ~ text) }}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do rows.append('(' ~ values | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- set sql -%}
        insert into {{ this.render() }} values {{ rows | join(', ') }}
    {%- endset -%}
    {%- if rows -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
    {%- endif -%}
    {{ return(sql) }}
{% endmacro %}

{#- Contracts: Parquet tables cannot hold NOT NULL (dbt-spark would ALTER each column and
    fail). Column names and types are still enforced; not-null is held by the not_null
    data tests every contracted column carries. -#}
{% macro spark__alter_column_set_constraints(relation, column_dict) %}
    {{ log('Parquet tables hold no NOT NULL constraint: ' ~ relation ~ ' relies on its not_null tests') }}
{% endmacro %}
