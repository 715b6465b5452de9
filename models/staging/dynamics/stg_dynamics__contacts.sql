with

source as (
    select * from {{ enabled_source_columns(var('using_dynamics', true), 'raw_dynamics', 'contacts', {
        'contactid': dbt.type_string(),
        'emailaddress1': dbt.type_string(),
        '_parentcustomerid_value': dbt.type_string(),
        'leadsourcecode': dbt.type_string(),
        'statecode': dbt.type_string(),
        'is_deleted': dbt.type_boolean(),
        'createdon': type_timestamp_tz(),
        'modifiedon': type_timestamp_tz(),
    }) }} as contacts
),

renamed as (
    select
        ---------- ids
        lower(trim(contactid))                              as contact_id,
        lower(nullif(trim(_parentcustomerid_value), ''))    as account_id,
        ---------- strings
        {{ normalize_email('emailaddress1') }}              as email,
        -- the contact option set has no out-of-the-box labels beyond a placeholder: keep the code
        leadsourcecode                                      as lead_source,
        statecode,
        ---------- booleans
        coalesce(is_deleted, false)                         as is_deleted,
        ---------- timestamps
        {{ utc_timestamp('createdon') }}                    as created_date,
        {{ utc_timestamp('modifiedon') }}                   as modified_date
    from source
)

select * from renamed
