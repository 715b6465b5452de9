{#-
    Email <-> visitor links, Marketo Measure's BIZ_EMAIL_TO_VISITOR_IDS: one row per (email, visitor_id)
    seen on a form submit with a valid email. Every session of the visitor belongs to the email (B3).
-#}
{{ config(materialized='table') }}

with

events as (
    select * from {{ ref('int_sessions_sessionized') }}
),

form_submits as (
    select
        {{ normalize_email('email') }}                  as email,
        visitor_id,
        event_date
    from events
    where event_type = 'form_submit'
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
        max(event_date)                                 as modified_date
    from form_submits
    -- an email without '@' normalizes to null and never links a visitor
    where email is not null
    group by email, visitor_id
)

select * from final
