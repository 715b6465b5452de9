{#-
    The touchpoints of each email, before persons: one row per (email, session).

    An email's touchpoints are the first session among all cookies its form submits link (the first touch)
    and every session in which that email submitted a form (Web Form; its first form in the session gives
    form_page and form_date). A session that is both is one touchpoint. A cookie shared by two emails gives
    its sessions to both, each by these rules.

    Incremental: a run recomputes every email linked to a cookie re-sessionized in this run, and replaces
    that email's rows (unique_key email). A late form fill on an old anonymous cookie links the email, which
    is then recomputed with the cookie's whole history.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='email',
    on_schema_change='append_new_columns',
) }}

with

events as (
    select * from {{ ref('int_sessions_sessionized') }}
),

-- normalized again here so any feed's emails follow the one match rule (lower-cased, trimmed, must hold '@')
form_submits as (
    select
        {{ normalize_email('email') }}                  as email,
        session_id,
        visitor_id,
        current_page_raw,
        event_id,
        event_date
    from events
    where event_type = 'form_submit'
),

email_visitors_all as (
    select distinct email, visitor_id
    from form_submits
    where email is not null
),

{% if is_incremental() %}
touched_visitors as (
    select distinct visitor_id
    from events
    where _processed_at > {{ last_processed_at() }}
),

affected_emails as (
    select distinct email_visitors_all.email
    from email_visitors_all
    inner join touched_visitors
        on email_visitors_all.visitor_id = touched_visitors.visitor_id
),

email_visitors as (
    select email_visitors_all.*
    from email_visitors_all
    inner join affected_emails
        on email_visitors_all.email = affected_emails.email
),

email_form_submits as (
    select form_submits.*
    from form_submits
    inner join affected_emails
        on form_submits.email = affected_emails.email
),

-- the sessions of the affected emails' visitors only
sessions as (
    select
        events.session_id,
        events.visitor_id,
        events.session_started_at
    from events
    inner join (select distinct visitor_id from email_visitors) as visitors
        on events.visitor_id = visitors.visitor_id
    where events.event_number = 1
),
{% else %}
email_visitors as (
    select * from email_visitors_all
),

email_form_submits as (
    select * from form_submits
),

sessions as (
    select
        session_id,
        visitor_id,
        session_started_at
    from events
    where event_number = 1
),
{% endif %}

email_sessions as (
    select
        email_visitors.email,
        sessions.session_id,
        sessions.visitor_id,
        sessions.session_started_at
    from email_visitors
    inner join sessions
        on email_visitors.visitor_id = sessions.visitor_id
),

-- each email's first session (earliest start, then smallest id): aggregates, not a sort of every pair
email_first_starts as (
    select email, min(session_started_at) as first_started_at
    from email_sessions
    group by email
),

email_first_sessions as (
    select email_sessions.email, min(email_sessions.session_id) as first_session_id
    from email_sessions
    inner join email_first_starts
        on email_sessions.email = email_first_starts.email
        and email_sessions.session_started_at = email_first_starts.first_started_at
    group by email_sessions.email
),

-- the email's first form in each session it submitted one in
email_forms as (
    select
        email,
        session_id,
        current_page_raw                                as form_page_raw,
        event_date                                      as form_date,
        row_number() over (
            partition by email, session_id
            order by event_date, event_id
        )                                               as form_number
    from email_form_submits
    where email is not null
),

final as (
    select
        ---------- ids
        email_sessions.email,
        email_sessions.session_id,
        email_sessions.visitor_id,
        ---------- strings
        case when email_forms.session_id is not null then 'Web Form' else 'Web Visit' end
                                                        as marketing_touch_type,
        email_forms.form_page_raw,
        {{ url_without_query('email_forms.form_page_raw') }} as form_page,
        ---------- booleans
        email_first_sessions.email is not null          as is_email_first_session,
        email_forms.session_id is not null              as is_form_submission_touch,
        ---------- timestamps
        -- a form touchpoint is dated by its form, any other by its session start
        coalesce(email_forms.form_date, email_sessions.session_started_at) as touchpoint_date,
        email_forms.form_date,
        email_sessions.session_started_at,
        {{ processed_at() }}                            as _processed_at
    from email_sessions
    left join email_forms
        on email_sessions.email = email_forms.email
        and email_sessions.session_id = email_forms.session_id
        and email_forms.form_number = 1
    left join email_first_sessions
        on email_sessions.email = email_first_sessions.email
        and email_sessions.session_id = email_first_sessions.first_session_id
    where email_first_sessions.email is not null
        or email_forms.session_id is not null
)

select * from final
