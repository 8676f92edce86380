-- Every landed gateway log row, superseded file versions included: the keys and times
-- the incremental attempt models need to find what a new or replaced file touches.
with

source as (

    select * from {{ source('gateway', 'gateway_logs') }}

),

renamed as (

    select
        {{ row_key() }} as gateway_landing_key,
        -- the dedup key of int_gateway_requests_deduplicated: request id, else the row
        coalesce(request_id, {{ row_key() }}) as request_key,
        request_id as cometapi_request_id,
        created_at as billed_at,
        _source_path as source_path,
        _load_id as load_id,
        _superseded_by is not null as is_superseded

    from source

)

select * from renamed
