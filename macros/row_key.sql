{#- A stable key for a landed row: the file version it came from and its row number. -#}
{% macro row_key(prefix='') -%}
    md5({{ prefix }}_file_sha256 || ':' || cast({{ prefix }}_row_number as varchar))
{%- endmacro %}
