{#-
    Web Traffic (Discover): one row per session day (reporting time zone) × landing page (with its title) ×
    referrer domain × channel × subchannel × campaign. Every measure is counted on the session's start day, so a session crossing midnight counts
    once with all its page views and forms. Visits are not tied to a person, so the Source segment shows as
    the split of persons created from forms by source_system; those persons follow the rpt_* default
    (no duplicates, no deleted persons) and the vars.

    The session counts come from int_web_traffic_by_day (incremental by day); the persons created from forms
    are counted here, over the touchpoints, on every run: a person change moves them without any web event.
-#}
with

traffic as (
    select * from {{ ref('int_web_traffic_by_day') }}
),

sessions as (
    select * from {{ ref('biz_sessions') }}
),

touchpoints as (
    select * from {{ ref('biz_touchpoints') }}
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

persons_grouped as (
    select
        {{ reporting_period('day', 'sessions.event_date') }} as session_day,
        sessions.landing_page,
        sessions.landing_page_title,
        sessions.referrer_domain,
        sessions.channel,
        sessions.subchannel,
        sessions.campaign,
        count(*)                                        as persons_created_from_forms,
        count(case when persons_created.source_system = 'Marketo' then 1 end)
                                                        as marketo_persons_created_from_forms,
        count(case when persons_created.source_system = 'Crm' then 1 end)
                                                        as crm_persons_created_from_forms
    from persons_created
    inner join sessions
        on persons_created.session_id = sessions.id
    group by 1, 2, 3, 4, 5, 6, 7
),

final as (
    select
        ---------- strings
        traffic.session_day,
        traffic.landing_page,
        traffic.landing_page_title,
        traffic.referrer_domain,
        traffic.channel,
        traffic.subchannel,
        traffic.campaign,
        ---------- numerics
        traffic.visit_count,
        traffic.visitor_count,
        -- the contract's bigint even where int_web_traffic_by_day was built before its sums were cast (its
        -- incremental runs keep the column's first type until a full refresh)
        cast(traffic.page_view_count as {{ dbt.type_bigint() }})          as page_view_count,
        cast(traffic.form_submit_count as {{ dbt.type_bigint() }})        as form_submit_count,
        traffic.unique_form_email_count,
        coalesce(persons_grouped.persons_created_from_forms, 0)             as persons_created_from_forms,
        coalesce(persons_grouped.marketo_persons_created_from_forms, 0)     as marketo_persons_created_from_forms,
        coalesce(persons_grouped.crm_persons_created_from_forms, 0)         as crm_persons_created_from_forms
    from traffic
    left join persons_grouped
        on traffic.session_day = persons_grouped.session_day
        and traffic.landing_page is not distinct from persons_grouped.landing_page
        and traffic.landing_page_title is not distinct from persons_grouped.landing_page_title
        and traffic.referrer_domain is not distinct from persons_grouped.referrer_domain
        and traffic.channel = persons_grouped.channel
        and traffic.subchannel is not distinct from persons_grouped.subchannel
        and traffic.campaign is not distinct from persons_grouped.campaign
)

select * from final
{{ unless_inputs_changed() }}
