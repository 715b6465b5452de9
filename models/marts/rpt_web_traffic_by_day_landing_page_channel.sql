{#-
    Web Traffic (Discover): one row per session day (reporting time zone) × landing page × channel ×
    subchannel. Every measure is counted on the session's start day, so a session crossing midnight counts
    once with all its page views and forms. Visits are not tied to a person, so the Source segment shows as
    the split of persons created from forms by source_system; those persons follow the rpt_* default
    (no duplicates, no deleted persons) and the vars.
-#}
with

sessions as (
    select * from {{ ref('biz_sessions') }}
),

form_submits as (
    select * from {{ ref('biz_form_submits') }}
),

touchpoints as (
    select * from {{ ref('biz_touchpoints') }}
),

sessions_dated as (
    select
        id                                              as session_id,
        visitor_id,
        landing_page,
        channel,
        subchannel,
        page_view_count,
        form_submit_count,
        {{ reporting_period('day', 'event_date') }}     as session_day
    from sessions
),

-- emails that do not look like one were normalized to null upstream: they identify nobody
form_emails as (
    select distinct
        session_id,
        email
    from form_submits
    where email is not null
),

-- a person created from a form: its lead-creation touch is a form it submitted in this session
persons_created as (
    select
        session_id,
        source_system,
        person_id
    from touchpoints
    where is_lead_creation_touch
        and is_form_submission_touch
        and {{ rpt_row_is_reported('touchpoints') }}
),

sessions_grouped as (
    select
        sessions_dated.session_day,
        sessions_dated.landing_page,
        sessions_dated.channel,
        sessions_dated.subchannel,
        count(*)                                        as visit_count,
        count(distinct sessions_dated.visitor_id)       as visitor_count,
        sum(sessions_dated.page_view_count)             as page_view_count,
        sum(sessions_dated.form_submit_count)           as form_submit_count
    from sessions_dated
    group by 1, 2, 3, 4
),

emails_grouped as (
    select
        sessions_dated.session_day,
        sessions_dated.landing_page,
        sessions_dated.channel,
        sessions_dated.subchannel,
        count(distinct form_emails.email)               as unique_form_email_count
    from sessions_dated
    inner join form_emails
        on sessions_dated.session_id = form_emails.session_id
    group by 1, 2, 3, 4
),

persons_grouped as (
    select
        sessions_dated.session_day,
        sessions_dated.landing_page,
        sessions_dated.channel,
        sessions_dated.subchannel,
        count(*)                                        as persons_created_from_forms,
        sum(case when persons_created.source_system = 'Marketo' then 1 else 0 end)
                                                        as marketo_persons_created_from_forms,
        sum(case when persons_created.source_system = 'Crm' then 1 else 0 end)
                                                        as crm_persons_created_from_forms
    from sessions_dated
    inner join persons_created
        on sessions_dated.session_id = persons_created.session_id
    group by 1, 2, 3, 4
),

final as (
    select
        ---------- strings
        sessions_grouped.session_day,
        sessions_grouped.landing_page,
        sessions_grouped.channel,
        sessions_grouped.subchannel,
        ---------- numerics
        sessions_grouped.visit_count,
        sessions_grouped.visitor_count,
        sessions_grouped.page_view_count,
        sessions_grouped.form_submit_count,
        coalesce(emails_grouped.unique_form_email_count, 0)                 as unique_form_email_count,
        coalesce(persons_grouped.persons_created_from_forms, 0)             as persons_created_from_forms,
        coalesce(persons_grouped.marketo_persons_created_from_forms, 0)     as marketo_persons_created_from_forms,
        coalesce(persons_grouped.crm_persons_created_from_forms, 0)         as crm_persons_created_from_forms
    from sessions_grouped
    left join emails_grouped
        on sessions_grouped.session_day = emails_grouped.session_day
        and sessions_grouped.landing_page is not distinct from emails_grouped.landing_page
        and sessions_grouped.channel = emails_grouped.channel
        and sessions_grouped.subchannel is not distinct from emails_grouped.subchannel
    left join persons_grouped
        on sessions_grouped.session_day = persons_grouped.session_day
        and sessions_grouped.landing_page is not distinct from persons_grouped.landing_page
        and sessions_grouped.channel = persons_grouped.channel
        and sessions_grouped.subchannel is not distinct from persons_grouped.subchannel
)

select * from final
