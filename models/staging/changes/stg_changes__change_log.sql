with

source as (

    select * from {{ source('changes', 'changes') }}
    where _superseded_by is null

),

renamed as (

    select
        {{ row_key() }} as change_key,
        changed_at,
        kind as change_kind,
        change_key as changed_setting,
        old_value,
        new_value,
        deploy_id,
        description,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source

)

select * from renamed
