{#- Money is DECIMAL, never DOUBLE. DuckDB turns decimal division into DOUBLE, so
    conversions multiply by an exact decimal factor instead of dividing. -#}

{% macro quota_to_usd(quota_column) -%}
    (cast({{ quota_column }} as decimal(38, 0)) * cast(0.000002 as decimal(18, 6)))
{%- endmacro %}

{% macro cents_to_usd(cents_column) -%}
    (cast({{ cents_column }} as decimal(38, 12)) * cast(0.01 as decimal(18, 2)))
{%- endmacro %}
