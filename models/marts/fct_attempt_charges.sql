-- The priced attempts as the public fact (int_attempt_charges_priced, built
-- incrementally): a view on DuckDB, so the largest relation is stored once.
{{
    config(
        materialized=published_materialization(),
        meta={'test_scope': {'key': 'logical_request_id', 'time': 'change_anchor_at', 'kind': 'joined_request'}},
    )
}}

with

charges as (

    select * from {{ ref('int_attempt_charges_priced') }}

)

select * from charges
