{#-
    What the dashboard's New persons and Reconciliation pages read: one row per person (biz_leads and
    biz_contacts, Marketo and CRM, duplicates and deleted included) with the flags B10's reconciliation counts
    by, the segment values, and the creation day and month in the reporting time zone. `is_reported` and
    `is_counted` follow the rpt_* vars, so the pages add up like rpt_new_persons_by_month_source_channel and
    rpt_persons_reconciliation. A view, published whole. The first touch is not joined here but where the
    dashboard counts (from rpt_dashboard_touchpoints): this way only a run that rebuilt the person models
    publishes the persons again, not every run with web events.
-#}
{{ config(materialized='view') }}

with

leads as (
    select * from {{ ref('biz_leads') }}
),

contacts as (
    select * from {{ ref('biz_contacts') }}
),

segments as (
    select * from {{ ref('int_persons_segmented') }}
),

dangling_crm_ids as (
    select * from {{ ref('dq_marketo_dangling_crm_ids') }}
),

persons as (
    select id as person_id, source_system, 'lead' as person_type, email, other_system_id, is_duplicate,
        is_deleted, created_date
    from leads
    union all
    select id as person_id, source_system, 'contact' as person_type, email, other_system_id, is_duplicate,
        is_deleted, created_date
    from contacts
),

final as (
    select
        ---------- ids
        persons.person_id,
        persons.other_system_id,
        ---------- strings
        persons.source_system,
        persons.person_type,
        persons.email,
        {%- for i in range(1, 16) %}
        segments.category{{ i }},
        {%- endfor %}
        ---------- booleans
        persons.is_duplicate,
        persons.is_deleted,
        {{ rpt_row_is_reported('persons') }}                                    as is_reported,
        {{ 'true' if var('rpt_include_deleted', false) else 'not persons.is_deleted' }}
                                                                                as is_counted,
        -- a CRM record names a Marketo person only when one is synced to it (B5)
        persons.source_system = 'Crm' and persons.other_system_id is not null   as has_marketo_match,
        dangling_crm_ids.person_id is not null                                  as has_dangling_crm_id,
        ---------- timestamps
        persons.created_date,
        {{ reporting_period('day', 'persons.created_date') }}                   as created_day,
        {{ reporting_period('month', 'persons.created_date') }}                 as created_month
    from persons
    left join segments
        on persons.source_system = segments.source_system
        and persons.person_id = segments.person_id
    left join dangling_crm_ids
        on persons.source_system = 'Marketo'
        and persons.person_id = dangling_crm_ids.person_id
)

select * from final
