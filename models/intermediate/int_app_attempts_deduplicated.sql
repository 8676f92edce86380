-- One row per application attempt (logical request × attempt number), the same attempt
-- landed twice kept once, with its retry chain and its service label.
{{
    config(
        materialized=attempt_materialization(),
        incremental_strategy='append',
        on_schema_change='fail',
        tags=['incremental_attempts'],
        pre_hook="{{ delete_changed_attempts('logical_request_id', 'sent_at', 'app_request') }}",
    )
}}

-- depends_on: {{ ref('int_attempt_changes_detected') }}
with

attempts as (

    select * from {{ ref('stg_app__request_attempts') }}
    where {{ changed_attempts_filter('logical_request_id', 'sent_at', 'app_request') }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

ranked as (

    select
        *,
        count(*) over (
            partition by logical_request_id, attempt_number
        ) as copies_landed,
        row_number() over (
            partition by logical_request_id, attempt_number
            order by loaded_at desc, source_path asc, source_row_number asc
        ) as copy_rank
    from attempts

),

labelled as (

    select
        {{ star_except('ranked', ['copy_rank']) }},
        coalesce(aliases.service_label, ranked.requested_model) as service_label,
        coalesce(
            ranked.http_status between 200 and 299
            and ranked.has_usage
            and not ranked.is_client_disconnected,
            false
        ) as is_successful_attempt
    from ranked
    left join aliases on ranked.requested_model = aliases.alias
    where ranked.copy_rank = 1

),

chained as (

    select
        *,
        count(*) over (partition by logical_request_id) as attempts_in_request,
        max(attempt_number) over (partition by logical_request_id) as last_attempt_number,
        max(case when is_successful_attempt then attempt_number end)
            over (partition by logical_request_id)
            as final_success_attempt_number,
        min(sent_at) over (partition by logical_request_id) as request_first_sent_at
    from labelled

),

final as (

    select
        *,
        attempt_number = last_attempt_number as is_last_attempt,
        coalesce(attempt_number = final_success_attempt_number, false) as is_final_success
    from chained

)

select * from final
