-- The incidents' windows as the public dimension (int_incident_windows).
with

windows as (

    select * from {{ ref('int_incident_windows') }}

)

select * from windows
