with

source as (

    select * from {{ source('build_log', 'catalog_rates_built') }}

),

renamed as (

    select
        md5(
            service_label || ':' || dimension || ':' || coalesce(cast(valid_from as string), '')
            || ':' || cast(snapshot_number as string)
        ) as built_rate_key,
        service_label,
        dimension,
        valid_from,
        valid_to,
        snapshot_number,
        rate_digest,
        has_published_rate

    from source

)

select * from renamed
