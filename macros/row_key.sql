{#- A stable key for a landed row: the file (path and version) it came from and its row number. -#}
{% macro row_key(prefix='') -%}
    md5(
        {{ prefix }}_source_path || ':' || {{ prefix }}_file_sha256 || ':'
        || cast({{ prefix }}_row_number as string)
    )
{%- endmacro %}
