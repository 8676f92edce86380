{#- One staging model for every quarantine table: a union, so that a reviewer sees
    every rejected row, its stream table, column and reason in one place. -#}
{%- set quarantined_tables = [
    'app_requests', 'gateway_logs', 'usage_ledger', 'focus_charges',
    'balance_daily_quota', 'billing_usage', 'pricing_catalog', 'rate_sheet',
    'api_contracts', 'api_contract_endpoints', 'incidents', 'changes',
] -%}

with

unioned as (

    {% for table_name in quarantined_tables %}
        select
            '{{ table_name }}' as raw_table,
            _source_path,
            _file_sha256,
            _row_number,
            _load_id,
            _loaded_at,
            _superseded_by,
            raw_text,
            error_column,
            error_reason
        from {{ source('ingest', table_name ~ '__quarantine') }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

renamed as (

    select
        md5(
            raw_table || ':' || _source_path || ':' || _file_sha256 || ':'
            || cast(_row_number as string)
        )
            as quarantined_row_key,
        raw_table,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at,
        _superseded_by is null as is_current_version,
        raw_text as raw_text_sanitized,
        error_column,
        error_reason
    from unioned

)

select * from renamed
