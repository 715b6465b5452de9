with

source as (
    select * from {{ source_columns('raw_marketo', 'leads', {
        'id': dbt.type_bigint(),
        'email': dbt.type_string(),
        'first_name': dbt.type_string(),
        'last_name': dbt.type_string(),
        'company': dbt.type_string(),
        'website': dbt.type_string(),
        'lead_status': dbt.type_string(),
        'lead_source': dbt.type_string(),
        'sfdc_type': dbt.type_string(),
        'sfdc_lead_id': dbt.type_string(),
        'sfdc_contact_id': dbt.type_string(),
        'sfdc_account_id': dbt.type_string(),
        'msft_type': dbt.type_string(),
        'msft_lead_id': dbt.type_string(),
        'msft_contact_id': dbt.type_string(),
        'msft_account_id': dbt.type_string(),
        'created_at': type_timestamp_tz(),
        'updated_at': type_timestamp_tz(),
        '_read_at': type_timestamp_tz(),
    }) }} as leads
),

renamed as (
    select
        ---------- ids
        cast(id as {{ dbt.type_string() }})                 as lead_id,
        -- the sync may carry 15-character Salesforce ids (rows landed earlier, or fed from elsewhere)
        {{ salesforce_id_18("nullif(trim(sfdc_lead_id), '')") }} as sfdc_lead_id,
        {{ salesforce_id_18("nullif(trim(sfdc_contact_id), '')") }} as sfdc_contact_id,
        {{ salesforce_id_18("nullif(trim(sfdc_account_id), '')") }} as sfdc_account_id,
        nullif(trim(msft_lead_id), '')                      as msft_lead_id,
        nullif(trim(msft_contact_id), '')                   as msft_contact_id,
        nullif(trim(msft_account_id), '')                   as msft_account_id,
        ---------- strings
        {{ normalize_email('email') }}                      as email,
        email                                               as email_raw,
        first_name,
        last_name,
        nullif(trim(company), '')                           as company,
        nullif(trim(website), '')                           as website,
        lead_status,
        lead_source,
        nullif(trim(sfdc_type), '')                         as sfdc_type,
        nullif(trim(msft_type), '')                         as msft_type,
        ---------- timestamps
        {{ utc_timestamp('created_at') }}                   as created_at,
        {{ utc_timestamp('updated_at') }}                   as updated_at,
        {{ utc_timestamp('_read_at') }}                     as read_at
    from source
)

select * from renamed
