-- Every row read from a landed file is either landed or quarantined: one row per landed
-- file with the registry's counts next to the rows actually present in the raw tables
-- and their quarantine twins. A view, so it always describes the warehouse as it is.
{{ config(materialized='view') }}

with

files as (

    select * from {{ ref('stg_ingest__files') }}
    where file_status = 'landed'

),

present as (

    select * from {{ ref('stg_ingest__rows_present') }}

),

present_per_file as (

    select
        load_id,
        source_path,
        sum(rows_landed) as landed,
        sum(rows_quarantined) as quarantined
    from present
    group by load_id, source_path

),

compared as (

    select
        files.ingest_file_key,
        files.load_id,
        files.source_path,
        files.rows_read,
        files.rows_landed,
        files.rows_quarantined,
        coalesce(present_per_file.landed, 0) as present_landed,
        coalesce(present_per_file.quarantined, 0) as present_quarantined
    from files
    left join present_per_file
        on
            files.load_id = present_per_file.load_id
            and files.source_path = present_per_file.source_path

),

final as (

    select
        *,
        rows_read = rows_landed + rows_quarantined
        and rows_landed = present_landed
        and rows_quarantined = present_quarantined as is_conserved
    from compared

)

select * from final
