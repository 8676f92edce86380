with

source as (

    select * from {{ source('build_log', 'incremental_builds') }}

),

renamed as (

    select
        invocation_id as build_invocation_id,
        changes_through,
        was_full_refresh,
        finished_at

    from source

)

select * from renamed
