{#- Money is DECIMAL, never DOUBLE. DuckDB turns decimal division into DOUBLE, so
    conversions multiply by an exact decimal factor instead of dividing. -#}

{% macro quota_to_usd(quota_column) -%}
    (cast({{ quota_column }} as decimal(38, 0)) * cast(0.000002 as decimal(18, 6)))
{%- endmacro %}

{% macro cents_to_usd(cents_column) -%}
    (cast({{ cents_column }} as decimal(38, 12)) * cast(0.01 as decimal(18, 2)))
{%- endmacro %}

{#- 1 / unit_size as an exact DECIMAL, for unit sizes that are powers of ten (1, 1K, 1M,
    ...). Any other unit size gives null: the rate is then unusable, never approximated. -#}
{% macro unit_factor(unit_size_column) -%}
    case
        when cast({{ unit_size_column }} as decimal(38, 0)) = 1
            then cast(1 as decimal(38, 18))
        when {{ regex_matches('cast(cast(' ~ unit_size_column ~ ' as decimal(38, 0)) as string)', "'^10*$'") }}
            then cast(
                '0.' || repeat('0', length(cast(cast({{ unit_size_column }} as decimal(38, 0)) as string)) - 2) || '1'
                as decimal(38, 18)
            )
    end
{%- endmacro %}

{#- A rate per single unit (token, request): the published rate times 1 / unit_size. -#}
{% macro rate_per_unit(rate_column, unit_size_column) -%}
    cast({{ rate_column }} * {{ unit_factor(unit_size_column) }} as decimal(38, 18))
{%- endmacro %}
