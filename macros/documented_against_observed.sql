{#- Contract rows for one item kind: every documented value of an API format against every
    value observed in each incident, matched on (api_format, column). Observed but
    undocumented: disagrees; documented but never seen: not_observed; both: agrees. -#}
{% macro documented_against_observed(item_kind, documented, observed, column) -%}
    select
        coalesce(observed.incident_id, incidents.incident_id) as incident_id,
        '{{ item_kind }}' as item_kind,
        coalesce(observed.api_format, documented.api_format) || ': '
        || coalesce(observed.{{ column }}, documented.{{ column }}) as item,
        documented.{{ column }} as documented_value,
        observed.{{ column }} as observed_value,
        coalesce(observed.attempts, 0) as evidence_count,
        case
            when documented.{{ column }} is null then 'disagrees'
            when observed.{{ column }} is null then 'not_observed'
            else 'agrees'
        end as status
    from incidents
    cross join {{ documented }} as documented
    full outer join {{ observed }} as observed
        on
            incidents.incident_id = observed.incident_id
            and documented.api_format = observed.api_format
            and documented.{{ column }} = observed.{{ column }}
{%- endmacro %}
