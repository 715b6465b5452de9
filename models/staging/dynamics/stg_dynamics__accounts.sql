with

source as (
    select * from {{ enabled_source_columns(var('using_dynamics', true), 'raw_dynamics', 'accounts', {
        'accountid': dbt.type_string(),
        'name': dbt.type_string(),
        'websiteurl': dbt.type_string(),
        'statecode': dbt.type_string(),
        'is_deleted': dbt.type_boolean(),
        'createdon': type_timestamp_tz(),
        'modifiedon': type_timestamp_tz(),
    }) }} as accounts
),

renamed as (
    select
        ---------- ids
        lower(trim(accountid))                              as account_id,
        ---------- strings
        nullif(trim(name), '')                              as name,
        nullif(trim(websiteurl), '')                        as website,
        {{ url_domain('websiteurl') }}                      as domain,
        -- 0 active, 1 inactive; an inactive account is not deleted and still matches
        statecode,
        ---------- booleans
        coalesce(is_deleted, false)                         as is_deleted,
        ---------- timestamps
        {{ utc_timestamp('createdon') }}                    as created_date,
        {{ utc_timestamp('modifiedon') }}                   as modified_date
    from source
)

select * from renamed
