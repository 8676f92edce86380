{#- The few places where DuckDB's and Spark's SQL differ, one macro each, dispatched by
    adapter: the models stay one copy. DuckDB is the default; Spark (dbt-spark, Spark 4)
    has its own spelling. -#}

{#- an instant: DuckDB's timestamptz; Spark's timestamp is the same (session zone UTC) -#}
{% macro timestamptz_type() -%}
    {{ return(adapter.dispatch('timestamptz_type', 'cometrecon')()) }}
{%- endmacro %}
{% macro default__timestamptz_type() %}timestamptz{% endmacro %}
{% macro spark__timestamptz_type() %}timestamp{% endmacro %}


{#- the wall-clock time in `zone` of the instant `instant` (a naive timestamp) -#}
{% macro local_time_in(zone, instant) -%}
    {{ return(adapter.dispatch('local_time_in', 'cometrecon')(zone, instant)) }}
{%- endmacro %}
{% macro default__local_time_in(zone, instant) %}timezone({{ zone }}, {{ instant }}){% endmacro %}
{% macro spark__local_time_in(zone, instant) -%}
    cast(from_utc_timestamp({{ instant }}, {{ zone }}) as timestamp_ntz)
{%- endmacro %}


{#- the instant at which the wall clock in `zone` read `local_time` (a naive timestamp) -#}
{% macro instant_of_local_time(zone, local_time) -%}
    {{ return(adapter.dispatch('instant_of_local_time', 'cometrecon')(zone, local_time)) }}
{%- endmacro %}
{% macro default__instant_of_local_time(zone, local_time) -%}
    timezone({{ zone }}, {{ local_time }})
{%- endmacro %}
{% macro spark__instant_of_local_time(zone, local_time) -%}
    to_utc_timestamp({{ local_time }}, {{ zone }})
{%- endmacro %}


{#- an interval of `amount` units; unit is millisecond, second, minute or hour -#}
{% macro interval_of(amount, unit) -%}
    {{ return(adapter.dispatch('interval_of', 'cometrecon')(amount, unit)) }}
{%- endmacro %}
{% macro default__interval_of(amount, unit) %}to_{{ unit }}s({{ amount }}){% endmacro %}
{% macro spark__interval_of(amount, unit) -%}
    {%- if unit == 'millisecond' -%}
        (({{ amount }}) * interval '0.001' second)
    {%- else -%}
        (({{ amount }}) * interval '1' {{ unit }})
    {%- endif -%}
{%- endmacro %}


{#- text of an instant, with a strftime pattern (%Y %m %d %H %M %S %f only) -#}
{% macro format_timestamp(instant, pattern) -%}
    {{ return(adapter.dispatch('format_timestamp', 'cometrecon')(instant, pattern)) }}
{%- endmacro %}
{% macro default__format_timestamp(instant, pattern) -%}
    strftime({{ instant }}, '{{ pattern }}')
{%- endmacro %}
{% macro spark__format_timestamp(instant, pattern) -%}
    {%- set java_pattern = pattern | replace('%Y', 'yyyy') | replace('%m', 'MM')
        | replace('%d', 'dd') | replace('%H', 'HH') | replace('%M', 'mm') | replace('%S', 'ss')
        | replace('%f', 'SSSSSS') -%}
    date_format({{ instant }}, '{{ java_pattern }}')
{%- endmacro %}


{#- values of a group joined by `separator` in a stated order -#}
{% macro ordered_string_agg(expression, separator, order_by, distinct=false) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'cometrecon')(
        expression, separator, order_by, distinct)) }}
{%- endmacro %}
{% macro default__ordered_string_agg(expression, separator, order_by, distinct) -%}
    string_agg({{ 'distinct ' if distinct }}{{ expression }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}
{#- Spark: listagg(distinct ...) beside a count(distinct ...) fails in Spark 4's distinct
    rewrite, so distinct values (ordered by themselves) are a sorted set instead. -#}
{% macro spark__ordered_string_agg(expression, separator, order_by, distinct) -%}
    {%- if distinct -%}
        {%- if order_by != expression -%}
            {{ exceptions.raise_compiler_error(
                'ordered_string_agg: distinct values are ordered by themselves') }}
        {%- endif -%}
        array_join(array_sort(collect_set({{ expression }})), {{ separator }})
    {%- else -%}
        listagg({{ expression }}, {{ separator }}) within group (order by {{ order_by }})
    {%- endif -%}
{%- endmacro %}


{#- every column of `relation_alias` but `columns` -#}
{% macro star_except(relation_alias, columns) -%}
    {{ return(adapter.dispatch('star_except', 'cometrecon')(relation_alias, columns)) }}
{%- endmacro %}
{% macro default__star_except(relation_alias, columns) -%}
    {{ relation_alias }}.* exclude ({{ columns | join(', ') }})
{%- endmacro %}
{% macro spark__star_except(relation_alias, columns) -%}
    {{ relation_alias }}.* except ({{ columns | join(', ') }})
{%- endmacro %}


{#- the integers low .. high - 1 as one column -#}
{% macro integer_series(low, high, column_name) -%}
    {{ return(adapter.dispatch('integer_series', 'cometrecon')(low, high, column_name)) }}
{%- endmacro %}
{% macro default__integer_series(low, high, column_name) -%}
    select cast(range as integer) as {{ column_name }} from range({{ low }}, {{ high }})
{%- endmacro %}
{% macro spark__integer_series(low, high, column_name) -%}
    select cast(id as integer) as {{ column_name }} from range({{ low }}, {{ high }})
{%- endmacro %}


{#- a JSON array (text) as a typed list; element_type is `integer` or `string` -#}
{% macro json_array(json_text, element_type) -%}
    {{ return(adapter.dispatch('json_array', 'cometrecon')(json_text, element_type)) }}
{%- endmacro %}
{% macro default__json_array(json_text, element_type) -%}
    cast({{ json_text }} as {{ 'varchar' if element_type == 'string' else element_type }}[])
{%- endmacro %}
{% macro spark__json_array(json_text, element_type) -%}
    from_json({{ json_text }}, 'array<{{ 'int' if element_type == 'integer' else element_type }}>')
{%- endmacro %}


{#- does `text` match the regular expression `pattern` anywhere -#}
{% macro regex_matches(text, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'cometrecon')(text, pattern)) }}
{%- endmacro %}
{% macro default__regex_matches(text, pattern) %}regexp_matches({{ text }}, {{ pattern }}){% endmacro %}
{% macro spark__regex_matches(text, pattern) %}regexp({{ text }}, {{ pattern }}){% endmacro %}


{#- a list's elements as a lateral table `alias (column_name)` of the row -#}
{% macro lateral_unnest(list_expression, alias, column_name) -%}
    {{ return(adapter.dispatch('lateral_unnest', 'cometrecon')(list_expression, alias, column_name)) }}
{%- endmacro %}
{% macro default__lateral_unnest(list_expression, alias, column_name) -%}
    unnest({{ list_expression }}) as {{ alias }} ({{ column_name }})
{%- endmacro %}
{% macro spark__lateral_unnest(list_expression, alias, column_name) -%}
    lateral explode({{ list_expression }}) as {{ alias }} ({{ column_name }})
{%- endmacro %}


{#- the open end of a validity interval -#}
{% macro far_future() -%}
    {{ return(adapter.dispatch('far_future', 'cometrecon')()) }}
{%- endmacro %}
{% macro default__far_future() %}cast('infinity' as timestamptz){% endmacro %}
{% macro spark__far_future() %}timestamp '9999-12-31 23:59:59'{% endmacro %}


{#- the JSON value at `path` (a JSONPath text expression) of a JSON text -#}
{% macro json_at(json_text, path) -%}
    {{ return(adapter.dispatch('json_at', 'cometrecon')(json_text, path)) }}
{%- endmacro %}
{% macro default__json_at(json_text, path) %}json_extract({{ json_text }}, {{ path }}){% endmacro %}
{% macro spark__json_at(json_text, path) %}get_json_object({{ json_text }}, {{ path }}){% endmacro %}


{#- the JSON value of member `key` (a text expression, any characters) of a JSON object -#}
{% macro json_member(json_text, key) -%}
    {{ return(adapter.dispatch('json_member', 'cometrecon')(json_text, key)) }}
{%- endmacro %}
{% macro default__json_member(json_text, key) -%}
    json_extract({{ json_text }}, '$."' || {{ key }} || '"')
{%- endmacro %}
{% macro spark__json_member(json_text, key) -%}
    get_json_object({{ json_text }}, concat("$['", {{ key }}, "']"))
{%- endmacro %}


{#- is member `key` of a JSON object itself an object -#}
{% macro json_member_is_object(json_text, key) -%}
    {{ return(adapter.dispatch('json_member_is_object', 'cometrecon')(json_text, key)) }}
{%- endmacro %}
{% macro default__json_member_is_object(json_text, key) -%}
    coalesce(json_type({{ json_text }}, '$."' || {{ key }} || '"') = 'OBJECT', false)
{%- endmacro %}
{% macro spark__json_member_is_object(json_text, key) -%}
    coalesce(startswith(ltrim({{ spark__json_member(json_text, key) }}), '{'), false)
{%- endmacro %}


{#- the member names of a JSON object, as a list -#}
{% macro json_object_keys(json_text) -%}
    {{ return(adapter.dispatch('json_object_keys', 'cometrecon')(json_text)) }}
{%- endmacro %}
{% macro default__json_object_keys(json_text) %}json_keys({{ json_text }}){% endmacro %}
{% macro spark__json_object_keys(json_text) %}json_object_keys({{ json_text }}){% endmacro %}


{#- `prefix` before each element of a list of text -#}
{% macro prefix_each(list_expression, prefix) -%}
    {{ return(adapter.dispatch('prefix_each', 'cometrecon')(list_expression, prefix)) }}
{%- endmacro %}
{% macro default__prefix_each(list_expression, prefix) -%}
    list_transform({{ list_expression }}, lambda element: {{ prefix }} || element)
{%- endmacro %}
{% macro spark__prefix_each(list_expression, prefix) -%}
    transform({{ list_expression }}, element -> {{ prefix }} || element)
{%- endmacro %}


{#- a list literal of the given SQL expressions -#}
{% macro list_of(elements) -%}
    {{ return(adapter.dispatch('list_of', 'cometrecon')(elements)) }}
{%- endmacro %}
{% macro default__list_of(elements) %}[{{ elements | join(', ') }}]{% endmacro %}
{% macro spark__list_of(elements) %}array({{ elements | join(', ') }}){% endmacro %}


{#- the elements of a list of text joined by `separator` -#}
{% macro join_list(list_expression, separator) -%}
    {{ return(adapter.dispatch('join_list', 'cometrecon')(list_expression, separator)) }}
{%- endmacro %}
{% macro default__join_list(list_expression, separator) -%}
    array_to_string({{ list_expression }}, {{ separator }})
{%- endmacro %}
{% macro spark__join_list(list_expression, separator) -%}
    array_join({{ list_expression }}, {{ separator }})
{%- endmacro %}


{#- every match of `pattern` in `text` replaced -#}
{% macro regex_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regex_replace_all', 'cometrecon')(text, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regex_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}
{% macro spark__regex_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}

{#- a CTE that several others read, inlined into each reader: DuckDB materializes such a
    CTE, which for a history-scale relation copies every row on every build; Spark always
    inlines -#}
{% macro inlined_cte() -%}
    {{ return(adapter.dispatch('inlined_cte', 'cometrecon')()) }}
{%- endmacro %}
{% macro default__inlined_cte() %}not materialized{% endmacro %}
{% macro spark__inlined_cte() %}{% endmacro %}
{% macro floor_to_minutes(instant, minutes) -%}
    {{ return(adapter.dispatch('floor_to_minutes', 'cometrecon')(instant, minutes)) }}
{%- endmacro %}
{% macro default__floor_to_minutes(instant, minutes) -%}
    to_timestamp(floor(epoch({{ instant }}) / ({{ minutes }} * 60)) * ({{ minutes }} * 60))
{%- endmacro %}
{% macro spark__floor_to_minutes(instant, minutes) -%}
    timestamp_seconds(
        cast(floor(unix_timestamp({{ instant }}) / ({{ minutes }} * 60)) * ({{ minutes }} * 60) as bigint)
    )
{%- endmacro %}
{#- The weakest confidence label (verified > inferred > unknown) among the rows of a group
    that satisfy `condition`; null when none does. -#}
{% macro weakest_confidence(label_column, condition) -%}
    case
        when bool_or({{ label_column }} = 'unknown') filter (where {{ condition }}) then 'unknown'
        when bool_or({{ label_column }} = 'inferred') filter (where {{ condition }}) then 'inferred'
        when bool_or({{ label_column }} = 'verified') filter (where {{ condition }}) then 'verified'
    end
{%- endmacro %}


{#- the interval of `intervals` (valid_from, valid_to: [from, to), to null = open) in force at
    `at` for each row, as `left join intervals as alias`: `equalities` are the other join
    conditions. On DuckDB each interval is listed once per UTC day it covers and joined on
    that day too, so a row meets only the intervals of its own day however long the
    capture history (a plain range join meets every interval of its label; an ASOF join
    sorts every row, slower at scale: docs/benchmarks.md); an open interval is listed up to a year
    past its start or today, whichever is later. Elsewhere a range join. Empty intervals
    ([t, t): two captures at one instant) never match. -#}
{% macro interval_in_force_join(intervals, alias, equalities, at) -%}
    {{ return(adapter.dispatch('interval_in_force_join', 'cometrecon')(intervals, alias, equalities, at)) }}
{%- endmacro %}
{% macro default__interval_in_force_join(intervals, alias, equalities, at) -%}
    left join (
        select
            by_day.*,
            covered.covered_day
        from {{ intervals }} as by_day,
            unnest(generate_series(
                date_trunc('day', by_day.valid_from),
                date_trunc('day', coalesce(
                    by_day.valid_to,
                    greatest(by_day.valid_from, current_timestamp) + interval 366 day
                )),
                interval 1 day
            )) as covered (covered_day)
        where by_day.valid_to is null or by_day.valid_to > by_day.valid_from
    ) as {{ alias }}
        on
            {{ equalities }}
            and date_trunc('day', {{ at }}) = {{ alias }}.covered_day
            and {{ at }} >= {{ alias }}.valid_from
            and ({{ alias }}.valid_to is null or {{ at }} < {{ alias }}.valid_to)
{%- endmacro %}
{% macro spark__interval_in_force_join(intervals, alias, equalities, at) -%}
    left join {{ intervals }} as {{ alias }}
        on
            {{ equalities }}
            and {{ at }} >= {{ alias }}.valid_from
            and ({{ alias }}.valid_to is null or {{ at }} < {{ alias }}.valid_to)
{%- endmacro %}


{#- a mart that publishes an intermediate as it is: a view on DuckDB (stored once); a table
    on Spark, whose parity check reads each mart's files -#}
{% macro published_materialization() -%}
    {{ return(adapter.dispatch('published_materialization', 'cometrecon')()) }}
{%- endmacro %}
{% macro default__published_materialization() %}{{ return('view') }}{% endmacro %}
{% macro spark__published_materialization() %}{{ return('table') }}{% endmacro %}
