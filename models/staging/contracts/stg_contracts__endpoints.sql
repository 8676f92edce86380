with

source as (

    select * from {{ source('contracts', 'api_contract_endpoints') }}
    where _superseded_by is null

),

renamed as (

    select
        {{ row_key() }} as contract_endpoint_key,
        provider,
        contract_captured_at,
        path as endpoint_path,
        api_format,
        {{ json_array('request_fields_json', 'string') }} as request_fields,
        {{ json_array('response_usage_fields_json', 'string') }} as response_usage_fields,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source

)

select * from renamed
