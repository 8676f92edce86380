{#- The rows actually present per load and source file, landed and quarantined, across
    every raw table: what the registry's counts are checked against. -#}
{%- set raw_tables = [
    'app_requests', 'gateway_logs', 'usage_ledger', 'focus_charges',
    'balance_daily_quota', 'billing_usage', 'pricing_catalog', 'rate_sheet',
    'api_contracts', 'api_contract_endpoints', 'incidents', 'changes',
] -%}

with

counted as (

    {% for table_name in raw_tables %}
        select
            '{{ table_name }}' as raw_table,
            _load_id as load_id,
            _source_path as source_path,
            count(*) as rows_landed,
            0 as rows_quarantined
        from {{ source(table_name_source(table_name), table_name) }}
        group by all
        union all
        select
            '{{ table_name }}' as raw_table,
            _load_id as load_id,
            _source_path as source_path,
            0 as rows_landed,
            count(*) as rows_quarantined
        from {{ source('ingest', table_name ~ '__quarantine') }}
        group by all
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        md5(load_id || ':' || source_path || ':' || raw_table) as rows_present_key,
        raw_table,
        load_id,
        source_path,
        sum(rows_landed)::bigint as rows_landed,
        sum(rows_quarantined)::bigint as rows_quarantined
    from counted
    group by raw_table, load_id, source_path

)

select * from final
