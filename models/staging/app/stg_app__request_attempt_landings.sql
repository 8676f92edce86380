-- Every landed application attempt row, superseded file versions included: the keys and
-- times the incremental attempt models need to find what a new or replaced file touches.
with

source as (

    select * from {{ source('app', 'app_requests') }}

),

renamed as (

    select
        {{ row_key() }} as attempt_landing_key,
        request_id as logical_request_id,
        cometapi_request_id,
        sent_at,
        _source_path as source_path,
        _load_id as load_id,
        _superseded_by is not null as is_superseded

    from source

)

select * from renamed
