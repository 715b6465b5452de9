with

source as (
    select * from {{ source_columns('raw_web', 'page_views', {
        'id': dbt.type_string(),
        'cookie_id': dbt.type_string(),
        'event_date': type_timestamp_tz(),
        'current_page_raw': dbt.type_string(),
        'referrer_page_raw': dbt.type_string(),
        'page_title': dbt.type_string(),
        'ip_address': dbt.type_string(),
        'user_agent_string': dbt.type_string(),
        '_dlt_load_id': dbt.type_string(),
    }) }} as page_views
),

renamed as (
    select
        ---------- ids
        id                                                  as page_view_id,
        cookie_id,
        ---------- strings
        current_page_raw,
        referrer_page_raw,
        page_title,
        ip_address,
        user_agent_string,
        _dlt_load_id,
        ---------- timestamps
        {{ utc_timestamp('event_date') }}                   as event_date
    from source
)

select * from renamed
