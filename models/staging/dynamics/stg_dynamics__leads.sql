with

source as (
    select * from {{ enabled_source_columns(var('using_dynamics', true), 'raw_dynamics', 'leads', {
        'leadid': dbt.type_string(),
        'emailaddress1': dbt.type_string(),
        'companyname': dbt.type_string(),
        'websiteurl': dbt.type_string(),
        'statecode': dbt.type_string(),
        'statuscode': dbt.type_string(),
        'leadsourcecode': dbt.type_string(),
        '_parentaccountid_value': dbt.type_string(),
        '_parentcontactid_value': dbt.type_string(),
        'is_deleted': dbt.type_boolean(),
        'createdon': type_timestamp_tz(),
        'modifiedon': type_timestamp_tz(),
    }) }} as leads
),

renamed as (
    select
        ---------- ids
        -- Dataverse GUIDs: Marketo's msft* fields may carry them in another case
        lower(trim(leadid))                                 as lead_id,
        lower(nullif(trim(_parentcontactid_value), ''))     as parent_contact_id,
        lower(nullif(trim(_parentaccountid_value), ''))     as parent_account_id,
        ---------- strings
        {{ normalize_email('emailaddress1') }}              as email,
        nullif(trim(companyname), '')                       as company,
        nullif(trim(websiteurl), '')                        as website,
        {{ dynamics_lead_status_label('statuscode') }}      as status,
        {{ dynamics_lead_source_label('leadsourcecode') }}  as lead_source,
        ---------- booleans
        -- statecode 1 = Qualified, Dataverse's "converted"; qualifying also sets the parent contact
        coalesce(statecode = '1', false)
            or nullif(trim(_parentcontactid_value), '') is not null     as is_converted,
        coalesce(is_deleted, false)                         as is_deleted,
        ---------- timestamps
        {{ utc_timestamp('createdon') }}                    as created_date,
        {{ utc_timestamp('modifiedon') }}                   as modified_date
    from source
)

select * from renamed
