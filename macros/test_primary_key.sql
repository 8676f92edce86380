{#- Generic test: `column_name` is a primary key, present in every row and in no two. One
    pass over the model instead of two (`unique` and `not_null`): on a staging view the key
    is an md5 computed per row, so each pass over a large model costs. -#}
{% test primary_key(model, column_name) %}
    select
        {{ column_name }} as key_value,
        count(*) as rows_with_key
    from {{ model }}
    group by {{ column_name }}
    having count(*) > 1 or {{ column_name }} is null
{% endtest %}
