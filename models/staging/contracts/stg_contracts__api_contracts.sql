with

source as (

    select * from {{ source('contracts', 'api_contracts') }}
    where _superseded_by is null

),

renamed as (

    select
        {{ row_key() }} as contract_key,
        provider,
        source_url,
        captured_at,
        auth_header,
        auth_scheme,
        request_id_header,
        error_shape_json,
        {{ json_array('retryable_statuses_json', 'integer') }} as retryable_statuses,
        {{ json_array('non_retryable_statuses_json', 'integer') }} as non_retryable_statuses,
        document_json,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source

)

select * from renamed
