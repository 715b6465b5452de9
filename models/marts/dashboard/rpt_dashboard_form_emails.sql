{#-
    What the dashboard reads for unique emails from forms and for a person's visitors (Journey): one row per
    form submit that carries a usable email (biz_form_submits), with its session and visitor. A view,
    published by the form's week like rpt_dashboard_touchpoints.
-#}
{{ config(materialized='view') }}

with

form_submits as (
    select * from {{ ref('biz_form_submits') }}
),

final as (
    select
        ---------- ids
        id                                                          as form_submit_id,
        session_id,
        visitor_id,
        ---------- strings
        email,
        ---------- timestamps
        event_date                                                  as form_date,
        {{ reporting_period('week', 'event_date') }}                as form_week,
        _processed_at
    from form_submits
    -- an email without '@' normalizes to null and identifies nobody
    where email is not null
)

select * from final
