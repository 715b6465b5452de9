with

source as (
    select * from {{ source_columns('raw_marketo', 'lead_company_fields', {
        'id': dbt.type_bigint(),
        'company': dbt.type_string(),
        'website': dbt.type_string(),
        '_read_at': type_timestamp_tz(),
    }) }} as company_fields
),

renamed as (
    select
        ---------- ids
        cast(id as {{ dbt.type_string() }})                 as lead_id,
        ---------- strings
        nullif(trim(company), '')                           as company,
        nullif(trim(website), '')                           as website,
        ---------- timestamps
        -- when Marketo produced this snapshot (the export job's start): the more recent read wins
        {{ utc_timestamp('_read_at') }}                     as read_at
    from source
)

select * from renamed
