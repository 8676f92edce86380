with

source as (

    select * from {{ source('ingest', '_ingest_loads') }}

),

renamed as (

    select
        load_id,
        landing_dir,
        started_at,
        finished_at,
        status as load_status,
        status in ('complete', 'complete_with_rejections') as is_complete,
        files_seen,
        files_landed,
        files_unchanged,
        files_rejected,
        rows_landed,
        rows_quarantined
    from source

)

select * from renamed
