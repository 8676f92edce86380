-- One row per incident, the latest definition landed: the window [window_start,
-- window_end) in UTC, its buffer, the finance timezone and the window's local times in it.
with

definitions as (

    select * from {{ ref('stg_incidents__definitions') }}

),

final as (

    select
        incident_id,
        window_start,
        window_end,
        buffer_minutes,
        buffered_start,
        buffered_end,
        finance_timezone,
        {{ local_time_in('finance_timezone', 'window_start') }} as window_start_finance_local,
        {{ local_time_in('finance_timezone', 'window_end') }} as window_end_finance_local,
        incident_owner,
        finance_reviewer,
        cast(tolerance_percent as decimal(18, 6)) as tolerance_percent,
        cast(tolerance_abs_usd as decimal(18, 6)) as tolerance_abs_usd,
        provider_name,
        notes,
        source_path
    from definitions
    qualify
        row_number() over (partition by incident_id order by loaded_at desc, source_path asc) = 1

)

select * from final
