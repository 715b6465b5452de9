{#-
    The touchpoints of each email, before persons: one row per (email, session).

    An email's touchpoints are the first session among all cookies its form submits link (the first touch)
    and every session in which that email submitted a form (Web Form; its first form in the session gives
    form_page and form_date). A session that is both is one touchpoint. A cookie shared by two emails gives
    its sessions to both, each by these rules.

    Incremental: a run recomputes the emails whose touchpoints the events rewritten upstream can change (a
    form of theirs rewritten, or a visitor's session rewritten no later than their first session; see
    affected_emails) and replaces their rows (unique_key email). A late form fill on an old anonymous cookie
    links the email, which is then recomputed with the cookie's whole history. The stored rows give the
    links and first sessions so far, so a run reads the upstream model for the affected visitors only (each
    read filtered where it is made, rather than one import CTE that several readers would share).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='email',
    on_schema_change='append_new_columns',
) }}

with

{% if is_incremental() %}
-- the events rewritten upstream since this model's last run: new events, and stored events re-sessionized
-- after them (int_sessions_sessionized rebuilds a cookie from its earliest new event on)
rewritten as (
    select
        {{ normalize_email('email') }}                  as email,
        visitor_id,
        event_type,
        session_started_at
    from {{ ref('int_sessions_sessionized') }}
    where _processed_at > {{ last_processed_at() }}
),

-- the links stored so far: a linked visitor holds at least one form touchpoint of its email
stored_links as (
    select distinct email, visitor_id
    from {{ this }}
    where is_form_submission_touch
),

stored_first_sessions as (
    select email, session_started_at as first_started_at
    from {{ this }}
    where is_email_first_session
),

visitors_rewritten_from as (
    select visitor_id, min(session_started_at) as rewritten_from
    from rewritten
    group by visitor_id
),

-- An email's touchpoints change only when (a) one of its form submits was rewritten (a new form, a new
-- link, or a form whose session changed: a session's id and start change only through events before the
-- form, which rewrite it), or (b) a visitor of it has a rewritten session starting no later than its stored
-- first session (which may then no longer be first). New sessions after the first, without forms, change
-- nothing: most of a day's visits leave their emails alone.
affected_emails as (
    select email
    from rewritten
    where event_type = 'form_submit'
        and email is not null

    union

    select stored_links.email
    from stored_links
    inner join visitors_rewritten_from
        on stored_links.visitor_id = visitors_rewritten_from.visitor_id
    left join stored_first_sessions
        on stored_links.email = stored_first_sessions.email
    where stored_first_sessions.email is null
        or visitors_rewritten_from.rewritten_from <= stored_first_sessions.first_started_at
),

-- every visitor an affected email may be linked to now: its stored links, and visitors of rewritten forms
candidate_visitors as (
    select stored_links.visitor_id
    from stored_links
    inner join affected_emails
        on stored_links.email = affected_emails.email

    union

    select visitor_id
    from rewritten
    where event_type = 'form_submit'
),

-- the affected emails' form submits, read from the candidate visitors' events
email_form_submits as (
    select candidate_forms.*
    from (
        select
            {{ normalize_email('events.email') }}       as email,
            events.session_id,
            events.visitor_id,
            events.current_page_raw,
            events.event_id,
            events.event_date
        from {{ ref('int_sessions_sessionized') }} as events
        inner join candidate_visitors
            on events.visitor_id = candidate_visitors.visitor_id
        where events.event_type = 'form_submit'
    ) as candidate_forms
    inner join affected_emails
        on candidate_forms.email = affected_emails.email
),

email_visitors as (
    select distinct email, visitor_id
    from email_form_submits
),

-- the sessions of the affected emails' visitors only
sessions as (
    select
        events.session_id,
        events.visitor_id,
        events.session_started_at
    from {{ ref('int_sessions_sessionized') }} as events
    inner join (select distinct visitor_id from email_visitors) as visitors
        on events.visitor_id = visitors.visitor_id
    where events.event_number = 1
),
{% else %}
events as (
    select * from {{ ref('int_sessions_sessionized') }}
),

-- normalized again here so any feed's emails follow the one match rule (lower-cased, trimmed, must hold '@')
email_form_submits as (
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

email_visitors as (
    select distinct email, visitor_id
    from email_form_submits
    where email is not null
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
