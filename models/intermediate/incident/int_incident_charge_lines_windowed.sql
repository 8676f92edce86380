-- Every FOCUS charge line whose charge period touches an incident's buffered window,
-- placed against the window [window_start, window_end). Only lines wholly inside the
-- window count towards the billed figure; a line whose period crosses a window edge is
-- flagged and left out, never silently counted or split.
with

incidents as (

    select * from {{ ref('int_incident_windows') }}

),

focus as (

    select * from {{ ref('stg_billing__focus_charges') }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

placed as (

    select
        incidents.incident_id || ':' || focus.charge_line_key as incident_charge_line_key,
        incidents.incident_id,
        focus.charge_line_key,
        focus.invoice_id,
        coalesce(aliases.service_label, nullif(focus.sku_id, ''), 'unallocated') as service_label,
        focus.charge_category,
        focus.billing_currency,
        focus.billed_cost,
        focus.charge_period_start,
        focus.charge_period_end,
        incidents.window_start,
        incidents.window_end,
        case
            when
                focus.charge_period_start >= incidents.window_start
                and focus.charge_period_end <= incidents.window_end
                then 'inside'
            when
                focus.charge_period_start < incidents.window_start
                and focus.charge_period_end > incidents.window_end
                then 'spans_window'
            when
                focus.charge_period_start < incidents.window_start
                and focus.charge_period_end > incidents.window_start
                then 'crosses_window_start'
            when
                focus.charge_period_start < incidents.window_end
                and focus.charge_period_end > incidents.window_end
                then 'crosses_window_end'
            else 'in_buffer'
        end as window_position,
        focus.source_path,
        focus.source_row_number
    from incidents
    inner join focus
        on
            focus.charge_period_start < incidents.buffered_end
            and focus.charge_period_end > incidents.buffered_start
    left join aliases on focus.sku_id = aliases.alias

),

final as (

    select
        *,
        window_position in ('crosses_window_start', 'crosses_window_end', 'spans_window')
            as crosses_window_edge,
        window_position = 'inside' as is_counted_in_billed
    from placed

)

select * from final
