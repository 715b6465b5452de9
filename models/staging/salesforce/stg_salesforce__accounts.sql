with

source as (
    select * from {{ enabled_source_columns(var('using_salesforce', true), 'raw_salesforce', 'account', {
        'id': dbt.type_string(),
        'name': dbt.type_string(),
        'website': dbt.type_string(),
        'is_deleted': dbt.type_boolean(),
        'created_date': type_timestamp_tz(),
        'last_modified_date': type_timestamp_tz(),
        'system_modstamp': type_timestamp_tz(),
    }) }} as accounts
),

renamed as (
    select
        ---------- ids
        -- 18-character ids: the same record may be named by its 15-character id elsewhere
        {{ salesforce_id_18('id') }}                        as account_id,
        ---------- strings
        nullif(trim(name), '')                              as name,
        nullif(trim(website), '')                           as website,
        {{ url_domain('website') }}                         as domain,
        ---------- booleans
        coalesce(is_deleted, false)                         as is_deleted,
        ---------- timestamps
        {{ utc_timestamp('created_date') }}                 as created_date,
        {{ utc_timestamp('last_modified_date') }}           as modified_date,
        {{ utc_timestamp('system_modstamp') }}              as system_modstamp
    from source
)

select * from renamed
