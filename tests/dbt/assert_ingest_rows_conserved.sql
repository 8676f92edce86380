-- Every row read from a landed file is either landed or quarantined: the registry's
-- counts add up, and they match the rows actually present in the raw tables.
{%- set raw_tables = [
    'app_requests', 'gateway_logs', 'usage_ledger', 'focus_charges',
    'balance_daily_quota', 'billing_usage', 'pricing_catalog', 'rate_sheet',
    'api_contracts', 'api_contract_endpoints', 'incidents', 'changes',
] %}

with

files as (

    select * from {{ ref('stg_ingest__files') }}
    where file_status = 'landed'

),

present as (

    {% for table_name in raw_tables %}
        select
            _load_id,
            _source_path,
            count(*) as landed,
            0 as quarantined
        from {{ source(table_name_source(table_name), table_name) }}
        group by all
        union all
        select
            _load_id,
            _source_path,
            0 as landed,
            count(*) as quarantined
        from {{ source('ingest', table_name ~ '__quarantine') }}
        group by all
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

present_per_file as (

    select
        _load_id as load_id,
        _source_path as source_path,
        sum(landed) as landed,
        sum(quarantined) as quarantined
    from present
    group by all

),

compared as (

    select
        files.load_id,
        files.source_path,
        files.rows_read,
        files.rows_landed,
        files.rows_quarantined,
        coalesce(present_per_file.landed, 0) as present_landed,
        coalesce(present_per_file.quarantined, 0) as present_quarantined
    from files
    left join present_per_file
        on
            files.load_id = present_per_file.load_id
            and files.source_path = present_per_file.source_path

)

select * from compared
where
    rows_read != rows_landed + rows_quarantined
    or rows_landed != present_landed
    or rows_quarantined != present_quarantined
