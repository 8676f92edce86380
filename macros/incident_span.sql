{#- `instant` lies inside the incidents' overall span [earliest window_start, latest
    window_end), the bounds read as single values from the model's `window_bounds` CTE:
    a filter on constants lets the scan skip the row groups of the attempt-level history
    outside the span (a nightly reads its day, not the 30 days held). -#}
{% macro within_incident_span(instant, bounds='window_bounds') -%}
    (
        {{ instant }} >= (select {{ bounds }}.earliest_start from {{ bounds }})
        and {{ instant }} < (select {{ bounds }}.latest_end from {{ bounds }})
    )
{%- endmacro %}
