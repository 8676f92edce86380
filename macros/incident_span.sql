{#- `instant` lies inside the incidents' overall span [earliest window_start, latest
    window_end), the bounds read as single values from the model's `incidents` CTE:
    a filter on constants lets the scan skip the row groups of the attempt-level history
    outside the span (a nightly reads its day, not the 30 days held). -#}
{% macro within_incident_span(instant, incidents='incidents') -%}
    (
        {{ instant }} >= (select min(spanned.window_start) from {{ incidents }} as spanned)
        and {{ instant }} < (select max(spanned.window_end) from {{ incidents }} as spanned)
    )
{%- endmacro %}


{#- The rows of `relation` sent or billed inside the incidents' span, as two branches that
    each bound one column by single values: an `or` across the two columns would make
    the scan read the whole history. -#}
{% macro sent_or_billed_in_incident_span(relation) -%}
    select *
    from {{ relation }}
    where {{ within_incident_span('sent_at') }}
    union all
    select *
    from {{ relation }}
    where
        {{ within_incident_span('billed_at') }}
        and not coalesce({{ within_incident_span('sent_at') }}, false)
{%- endmacro %}
