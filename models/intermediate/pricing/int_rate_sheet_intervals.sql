-- The internal rate sheet (what the forecast used) per label × dimension, each rate in
-- force from its effective_from until the next one.
with

sheet as (

    select * from {{ ref('stg_pricing__rate_sheet') }}

),

aliases as (

    select * from {{ ref('model_aliases') }}

),

intervals as (

    select
        sheet.rate_sheet_key as rate_interval_key,
        coalesce(aliases.service_label, sheet.service_label) as service_label,
        sheet.dimension,
        sheet.rate as published_rate,
        sheet.unit_size,
        {{ rate_per_unit('sheet.rate', 'sheet.unit_size') }} as usd_per_unit,
        sheet.currency,
        sheet.effective_from as valid_from,
        lead(sheet.effective_from) over (
            partition by coalesce(aliases.service_label, sheet.service_label), sheet.dimension
            order by sheet.effective_from
        ) as valid_to,
        sheet.rate_source,
        sheet.source_path
    from sheet
    left join aliases on sheet.service_label = aliases.alias

)

select * from intervals
