-- The priced attempts as the public fact (int_attempt_charges_priced, built
-- incrementally): a view, so the largest table is stored once.
{{
    config(
        materialized='view',
        meta={'test_scope': {'key': 'logical_request_id', 'time': 'change_anchor_at', 'kind': 'joined_request'}},
    )
}}

with

charges as (

    select * from {{ ref('int_attempt_charges_priced') }}

)

select * from charges
