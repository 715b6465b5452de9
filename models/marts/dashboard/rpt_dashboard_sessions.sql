{#-
    What the dashboard's Web Traffic and Journey pages read: one row per web session (biz_sessions) with the
    dimensions Discover's web tables show and its day and month in the reporting time zone. Visitors and
    form emails are counted distinct over whatever the filters select, so the dashboard reads sessions, not
    a daily aggregate (a visitor of two days is one visitor). A view, published by week like
    rpt_dashboard_touchpoints.
-#}
{{ config(materialized='view') }}

with

sessions as (
    select * from {{ ref('biz_sessions') }}
),

final as (
    select
        ---------- ids
        id                                                          as session_id,
        visitor_id,
        ---------- strings
        channel,
        subchannel,
        campaign,
        landing_page,
        landing_page_title,
        referrer_domain,
        ---------- numerics
        page_view_count,
        form_submit_count,
        ---------- timestamps
        event_date                                                  as session_started_at,
        {{ reporting_period('day', 'event_date') }}                 as session_day,
        {{ reporting_period('week', 'event_date') }}                as session_week,
        _processed_at
    from sessions
)

select * from final
