{#-
    Email <-> visitor links, Marketo Measure's BIZ_EMAIL_TO_VISITOR_IDS: one row per (email, visitor_id)
    seen on a form submit with a valid email. Every session of the visitor belongs to the email (B3).

    Incremental: the links of every visitor with events rewritten upstream since this model's last run are
    recomputed from all the visitor's form submits and replace that visitor's rows (unique_key visitor_id).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='visitor_id',
    on_schema_change='append_new_columns',
) }}

with

{% if is_incremental() %}
-- (the upstream model is read where each read is filtered, not through one shared import CTE: a CTE read
-- twice is materialized whole, and the filters no longer reach the scan)
touched_visitors as (
    select distinct visitor_id
    from {{ ref('int_sessions_sessionized') }}
    where _processed_at > {{ last_processed_at() }}
),
{% endif %}

form_submits as (
    select
        {{ normalize_email('events.email') }}           as email,
        events.visitor_id,
        events.event_date
    from {{ ref('int_sessions_sessionized') }} as events
    {% if is_incremental() %}
    inner join touched_visitors
        on events.visitor_id = touched_visitors.visitor_id
    {% endif %}
    where events.event_type = 'form_submit'
),

final as (
    select
        ---------- ids
        {{ dbt.hash(dbt.concat(["email", "'|'", "visitor_id"])) }}  as id,
        ---------- strings
        email,
        visitor_id,
        ---------- booleans
        -- form submits are never deleted; the column keeps Measure's shape
        false                                           as is_deleted,
        ---------- timestamps
        min(event_date)                                 as created_date,
        max(event_date)                                 as modified_date,
        {{ processed_at() }}                            as _processed_at
    from form_submits
    -- an email without '@' normalizes to null and never links a visitor
    where email is not null
    group by email, visitor_id
)

select * from final
