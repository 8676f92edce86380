-- Every row read from a landed file is either landed or quarantined: the registry's
-- counts add up, and they match the rows actually present in the raw tables.
select * from {{ ref('int_ingest_rows_conserved') }}
where not is_conserved
