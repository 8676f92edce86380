with

source as (

    select * from {{ source('pricing', 'rate_sheet') }}
    where _superseded_by is null

),

renamed as (

    select
        {{ row_key() }} as rate_sheet_key,
        model as service_label,
        dimension,
        rate,
        unit_size,
        upper(currency) as currency,
        effective_from,
        rate_source,
        _source_path as source_path,
        _file_sha256 as file_sha256,
        _row_number as source_row_number,
        _load_id as load_id,
        _loaded_at as loaded_at
    from source

)

select * from renamed
