with

source as (
    select * from {{ source_columns('raw_marketo', 'lead_company_fields', {
        'id': dbt.type_bigint(),
        'company': dbt.type_string(),
        'website': dbt.type_string(),
        '_dlt_load_id': dbt.type_string(),
    }) }} as company_fields
),

renamed as (
    select
        ---------- ids
        cast(id as {{ dbt.type_string() }})                 as lead_id,
        ---------- strings
        nullif(trim(company), '')                           as company,
        nullif(trim(website), '')                           as website,
        ---------- numerics
        -- dlt load ids are unix timestamps: the larger one is the more recent read
        cast(_dlt_load_id as {{ dbt.type_float() }})        as read_at_epoch
    from source
)

select * from renamed
