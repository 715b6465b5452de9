with

source as (
    select * from {{ enabled_source_columns(var('using_salesforce', true), 'raw_salesforce', 'contact', {
        'id': dbt.type_string(),
        'email': dbt.type_string(),
        'account_id': dbt.type_string(),
        'lead_source': dbt.type_string(),
        'is_deleted': dbt.type_boolean(),
        'created_date': type_timestamp_tz(),
        'last_modified_date': type_timestamp_tz(),
        'system_modstamp': type_timestamp_tz(),
    }) }} as contacts
),

renamed as (
    select
        ---------- ids
        -- 18-character ids: the same record may be named by its 15-character id elsewhere
        {{ salesforce_id_18('id') }}                        as contact_id,
        {{ salesforce_id_18("nullif(trim(account_id), '')") }} as account_id,
        ---------- strings
        {{ normalize_email('email') }}                      as email,
        lead_source,
        ---------- booleans
        coalesce(is_deleted, false)                         as is_deleted,
        ---------- timestamps
        {{ utc_timestamp('created_date') }}                 as created_date,
        {{ utc_timestamp('last_modified_date') }}           as modified_date,
        {{ utc_timestamp('system_modstamp') }}              as system_modstamp
    from source
)

select * from renamed
