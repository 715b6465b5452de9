{#-
    Form submits, Marketo Measure's BIZ_FORM_SUBMITS: the tracked columns plus the session and visitor. One
    row per form submit id. Incremental like biz_page_views.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='id',
    on_schema_change='append_new_columns',
) }}

with

events as (
    select * from {{ ref('int_sessions_sessionized') }}
    where event_type = 'form_submit'
    {% if is_incremental() %}
        and _processed_at > {{ last_processed_at() }}
    {% endif %}
),

final as (
    select
        ---------- ids
        event_id                                        as id,
        session_id,
        visitor_id,
        cookie_id,
        ---------- strings
        email,
        email_raw,
        form_identifier,
        current_page_raw,
        {{ url_without_query('current_page_raw') }}     as current_page,
        ip_address,
        user_agent_string,
        _dlt_load_id,
        ---------- timestamps
        event_date,
        _processed_at
    from events
)

select * from final
