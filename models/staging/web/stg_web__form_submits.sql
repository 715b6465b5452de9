with

source as (
    select * from {{ source_columns('raw_web', 'form_submits', {
        'id': dbt.type_string(),
        'cookie_id': dbt.type_string(),
        'event_date': type_timestamp_tz(),
        'current_page_raw': dbt.type_string(),
        'email': dbt.type_string(),
        'form_identifier': dbt.type_string(),
        'ip_address': dbt.type_string(),
        'user_agent_string': dbt.type_string(),
        '_dlt_load_id': dbt.type_string(),
    }) }} as form_submits
),

renamed as (
    select
        ---------- ids
        id                                                  as form_submit_id,
        cookie_id,
        ---------- strings
        current_page_raw,
        {{ normalize_email('email') }}                      as email,
        email                                               as email_raw,
        form_identifier,
        ip_address,
        user_agent_string,
        _dlt_load_id,
        ---------- timestamps
        {{ utc_timestamp('event_date') }}                   as event_date
    from source
)

select * from renamed
