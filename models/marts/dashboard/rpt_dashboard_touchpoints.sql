{#-
    What the dashboard's Engagement and Journey pages read: one row per touchpoint (biz_touchpoints), every
    touchpoint with `is_reported` saying whether the rpt_* marts count it (no duplicates or deleted persons
    by default), its day and month in the reporting time zone, the segment values and the three models'
    percentages. A view: it costs nothing to build; after a successful build on DuckDB it is published as
    Parquet by week (macros/dashboard_snapshot.sql), elsewhere the dashboard can read it in place.
-#}
{{ config(materialized='view') }}

with

touchpoints as (
    select * from {{ ref('biz_touchpoints') }}
),

final as (
    select
        ---------- ids
        id                                                          as touchpoint_id,
        person_id,
        session_id,
        visitor_id,
        ---------- strings
        source_system,
        email,
        marketing_touch_type,
        channel,
        subchannel,
        campaign,
        landing_page,
        {%- for i in range(1, 16) %}
        category{{ i }},
        {%- endfor %}
        ---------- numerics
        first_click_percentage,
        last_anon_click_percentage,
        u_shape_percentage,
        ---------- booleans
        is_first_touch,
        is_lead_creation_touch,
        is_form_submission_touch,
        is_duplicate,
        is_deleted,
        {{ rpt_row_is_reported('touchpoints') }}                    as is_reported,
        ---------- timestamps
        touchpoint_date,
        {{ reporting_period('day', 'touchpoint_date') }}            as touchpoint_day,
        {{ reporting_period('week', 'touchpoint_date') }}           as touchpoint_week,
        _processed_at
    from touchpoints
)

select * from final
