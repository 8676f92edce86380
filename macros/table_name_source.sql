{#- The dbt source that declares a raw table (the stream folder it lands from). -#}
{% macro table_name_source(table_name) -%}
    {%- set sources = {
        'app_requests': 'app',
        'gateway_logs': 'gateway',
        'usage_ledger': 'ledger',
        'focus_charges': 'billing',
        'balance_daily_quota': 'billing',
        'billing_usage': 'billing',
        'pricing_catalog': 'pricing',
        'rate_sheet': 'pricing',
        'api_contracts': 'contracts',
        'api_contract_endpoints': 'contracts',
        'incidents': 'incidents',
        'changes': 'changes',
    } -%}
    {{ return(sources[table_name]) }}
{%- endmacro %}
