{#-
    The session side of rpt_web_traffic_by_day_landing_page_channel: one row per session day (reporting time
    zone) × landing page × landing page title × referrer domain × channel × subchannel × campaign with visits,
    visitors, page views, form submits and distinct form emails. Every measure is counted on the session's
    start day.

    Incremental: every day with a session, page view or form submit rewritten upstream since this model's last
    run is recomputed whole (unique_key session_day with delete+insert). A session merged away by a late event
    is covered: its events were rewritten, and they carry its day. A run with another `reporting_timezone`
    than the stored rows' recomputes every day and drops the old ones.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='session_day',
    on_schema_change='append_new_columns',
    post_hook=[
        "{% if is_incremental() %}
        -- days cut in another reporting time zone by earlier runs
        {{ delete_rows(this, '_reporting_timezone <> ' ~ sql_string(reporting_timezone())) }}
        {% endif %}"
    ],
) }}

-- depends_on: {{ ref('biz_page_views') }}

{#- a changed reporting_timezone moves every day: the run then recomputes them all -#}
{%- set timezone_changed = false -%}
{%- if execute and is_incremental() -%}
    {%- set stored = run_query(
        "select count(*) from " ~ this ~ " where _reporting_timezone <> '" ~ reporting_timezone() ~ "'") -%}
    {%- set timezone_changed = stored.columns[0].values()[0] > 0 -%}
{%- endif %}

{#- the upstream models are read where each read is filtered, not through shared import CTEs: a CTE read
    twice is materialized whole, and the filters no longer reach the scan -#}
{%- set sessions_dated -%}
    select
        id                                              as session_id,
        visitor_id,
        landing_page,
        landing_page_title,
        referrer_domain,
        channel,
        subchannel,
        campaign,
        page_view_count,
        form_submit_count,
        {{ reporting_period('day', 'event_date') }}     as session_day
    from {{ ref('biz_sessions') }}
{%- endset %}

with

{% if is_incremental() and not timezone_changed %}
{%- set since = last_processed_at() %}
touched_days as (
    select {{ reporting_period('day', 'event_date') }} as session_day
    from {{ ref('biz_sessions') }}
    where _processed_at > {{ since }}
    union
    select {{ reporting_period('day', 'event_date') }}
    from {{ ref('biz_page_views') }}
    where _processed_at > {{ since }}
    union
    select {{ reporting_period('day', 'event_date') }}
    from {{ ref('biz_form_submits') }}
    where _processed_at > {{ since }}
),

sessions_in_scope as (
    select sessions_dated.*
    from ({{ sessions_dated }}) as sessions_dated
    inner join touched_days
        on sessions_dated.session_day = touched_days.session_day
),
{% else %}
sessions_in_scope as (
    {{ sessions_dated }}
),
{% endif %}

sessions_grouped as (
    select
        session_day,
        landing_page,
        landing_page_title,
        referrer_domain,
        channel,
        subchannel,
        campaign,
        count(*)                                        as visit_count,
        count(distinct visitor_id)                      as visitor_count,
        -- bigint like the other counts (a sum of integers is 128-bit in DuckDB)
        cast(sum(page_view_count) as {{ dbt.type_bigint() }})     as page_view_count,
        cast(sum(form_submit_count) as {{ dbt.type_bigint() }})   as form_submit_count
    from sessions_in_scope
    group by 1, 2, 3, 4, 5, 6, 7
),

-- emails that do not look like one were normalized to null upstream: they identify nobody
emails_grouped as (
    select
        sessions_in_scope.session_day,
        sessions_in_scope.landing_page,
        sessions_in_scope.landing_page_title,
        sessions_in_scope.referrer_domain,
        sessions_in_scope.channel,
        sessions_in_scope.subchannel,
        sessions_in_scope.campaign,
        count(distinct form_submits.email)              as unique_form_email_count
    from sessions_in_scope
    inner join {{ ref('biz_form_submits') }} as form_submits
        on sessions_in_scope.session_id = form_submits.session_id
    where form_submits.email is not null
    group by 1, 2, 3, 4, 5, 6, 7
),

final as (
    select
        ---------- strings
        sessions_grouped.session_day,
        sessions_grouped.landing_page,
        sessions_grouped.landing_page_title,
        sessions_grouped.referrer_domain,
        sessions_grouped.channel,
        sessions_grouped.subchannel,
        sessions_grouped.campaign,
        ---------- numerics
        sessions_grouped.visit_count,
        sessions_grouped.visitor_count,
        sessions_grouped.page_view_count,
        sessions_grouped.form_submit_count,
        coalesce(emails_grouped.unique_form_email_count, 0)                 as unique_form_email_count,
        '{{ reporting_timezone() }}'                                       as _reporting_timezone,
        ---------- timestamps
        {{ processed_at() }}                                                as _processed_at
    from sessions_grouped
    left join emails_grouped
        on sessions_grouped.session_day = emails_grouped.session_day
        and sessions_grouped.landing_page is not distinct from emails_grouped.landing_page
        and sessions_grouped.landing_page_title is not distinct from emails_grouped.landing_page_title
        and sessions_grouped.referrer_domain is not distinct from emails_grouped.referrer_domain
        and sessions_grouped.channel = emails_grouped.channel
        and sessions_grouped.subchannel is not distinct from emails_grouped.subchannel
        and sessions_grouped.campaign is not distinct from emails_grouped.campaign
)

select * from final
