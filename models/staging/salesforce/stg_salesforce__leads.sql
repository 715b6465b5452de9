with

source as (
    select * from {{ enabled_source_columns(var('using_salesforce', true), 'raw_salesforce', 'lead', {
        'id': dbt.type_string(),
        'email': dbt.type_string(),
        'company': dbt.type_string(),
        'website': dbt.type_string(),
        'status': dbt.type_string(),
        'lead_source': dbt.type_string(),
        'is_converted': dbt.type_boolean(),
        'converted_contact_id': dbt.type_string(),
        'converted_account_id': dbt.type_string(),
        'converted_date': type_timestamp_tz(),
        'is_deleted': dbt.type_boolean(),
        'created_date': type_timestamp_tz(),
        'last_modified_date': type_timestamp_tz(),
        'system_modstamp': type_timestamp_tz(),
    }) }} as leads
),

renamed as (
    select
        ---------- ids
        -- 18-character ids: the same record may be named by its 15-character id elsewhere
        {{ salesforce_id_18('id') }}                        as lead_id,
        {{ salesforce_id_18("nullif(trim(converted_contact_id), '')") }} as converted_contact_id,
        {{ salesforce_id_18("nullif(trim(converted_account_id), '')") }} as converted_account_id,
        ---------- strings
        {{ normalize_email('email') }}                      as email,
        nullif(trim(company), '')                           as company,
        nullif(trim(website), '')                           as website,
        status,
        lead_source,
        ---------- booleans
        coalesce(is_converted, false)                       as is_converted,
        coalesce(is_deleted, false)                         as is_deleted,
        ---------- timestamps
        {{ utc_timestamp('converted_date') }}               as converted_date,
        {{ utc_timestamp('created_date') }}                 as created_date,
        {{ utc_timestamp('last_modified_date') }}           as modified_date,
        {{ utc_timestamp('system_modstamp') }}              as system_modstamp
    from source
)

select * from renamed
