{#- Generic tests of the history-scale relations, in an incremental `dbt build`, check the
    rows this build can have changed rather than every row held: a nightly build's cost
    grows with the new day, not with the history. A relation opts in with `meta`:
    `test_scope: new_loads` (staging over raw rows: the rows of loads since the last
    recorded build) or `test_scope: {key, time, kind}` (an incremental attempt model: the
    requests its pre-hook deleted and rebuilt, as `changed_attempts_filter` names them).

    Sound because these tests are row-local (not_null, accepted_values) or keys built from a
    landed row (unique: two rows sharing a key come from one landed row, so from one
    request and one load), and the rows outside the scope were tested by the build that
    wrote them: a build is recorded only when its incremental models succeeded, and a
    failed one is redone from the same starting point. Every other invocation tests every
    row: `dbt test`, `--full-refresh`, the first build, a build whose change list says
    recompute_all, and any build of a project other than the one the last recorded build
    ran (its hash, COMETRECON_PROJECT_HASH, which `cometrecon` passes to dbt). -#}
{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set scope = build_test_scope() -%}
    {%- if scope -%}
        {%- do conditions.append(scope) -%}
    {%- endif -%}
    {%- if conditions -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}


{% macro build_test_scope() -%}
    {%- if not execute or model.resource_type != 'test' or not model.attached_node -%}
        {{ return('') }}
    {%- endif -%}
    {%- set tested = graph.nodes.get(model.attached_node) -%}
    {%- set scope = (tested.config.meta or {}).get('test_scope') if tested else none -%}
    {%- if not scope -%}
        {{ return('') }}
    {%- endif -%}
    {%- set since = last_build_of_this_project() -%}
    {%- if since is none -%}
        {{ return('') }}
    {%- endif -%}
    {%- if scope == 'new_loads' -%}
        {%- set loads = run_query(
            'select distinct load_id from ' ~ graph_relation('stg_ingest__files')
            ~ " where file_status = 'landed' and recorded_at > '" ~ since
            ~ "'::timestamptz order by 1"
        ).columns[0].values() -%}
        {%- if not loads -%}
            {{ return('false') }}
        {%- endif -%}
        {{ return("load_id in ('" ~ loads | join("', '") ~ "')") }}
    {%- endif -%}
    {{ return(changed_attempts_filter(
        scope['key'], scope['time'], scope['kind'], changes=graph_relation('int_attempt_changes_detected')
    )) }}
{%- endmacro %}


{#- The watermark of the last recorded build, when this invocation is an incremental
    `dbt build` of the same project; none otherwise. -#}
{% macro last_build_of_this_project() -%}
    {%- set project = env_var('COMETRECON_PROJECT_HASH', '') -%}
    {%- if flags.WHICH != 'build' or flags.FULL_REFRESH or not project -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set row = run_query(
        'select cast(max(changes_through) as string), max_by(project_hash, finished_at) '
        ~ 'from build_log.incremental_builds'
    ).rows[0] -%}
    {{ return(row[0] if row[1] == project else none) }}
{%- endmacro %}


{#- A model's relation from the graph: a test may read it without a ref() it did not
    declare. -#}
{% macro graph_relation(model_name) -%}
    {%- set node = graph.nodes['model.' ~ project_name ~ '.' ~ model_name] -%}
    {{ return(api.Relation.create(database=node.database, schema=node.schema, identifier=node.alias)) }}
{%- endmacro %}
