with

source as (

    select * from {{ source('ingest', '_ingest_files') }}

),

renamed as (

    select
        md5(load_id || ':' || source_path) as ingest_file_key,
        load_id,
        source_path,
        stream,
        file_sha256,
        sidecar_path,
        sidecar_sha256,
        detected_format,
        size_bytes,
        status as file_status,
        reason as status_reason,
        rows_read,
        rows_landed,
        rows_quarantined,
        rows_skipped,
        version as file_version,
        superseded_by,
        superseded_by is null and status = 'landed' as is_current_version,
        recorded_at
    from source

)

select * from renamed
