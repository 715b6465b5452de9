{#-
    Why CRM and report person counts differ (B10): one row per month of creation (reporting time zone) with
    the CRM persons, the Marketo persons, how many of those are matched to a loaded CRM record (duplicates),
    how many are Marketo-only, and how many Marketo-only persons carry a synced CRM id that names no loaded
    record (dangling). Each person counts in the month of its own created_date, so the two sides of a
    matched pair may fall in different months.

    It adds up, in every row:
      marketo_persons = matched_marketo_persons + marketo_only_persons
      crm_persons     = crm_persons_with_marketo_match + crm_only_persons
      report_persons  = crm_persons + marketo_only_persons (+ matched_marketo_persons when rpt_include_duplicates)
    and report_persons is the new_person_count of rpt_new_persons_by_month_source_channel for the month.
    Deleted persons are counted apart (deleted_*) and nowhere else, unless rpt_include_deleted.
-#}
with

leads as (
    select * from {{ ref('biz_leads') }}
),

contacts as (
    select * from {{ ref('biz_contacts') }}
),

dangling_crm_ids as (
    select * from {{ ref('dq_marketo_dangling_crm_ids') }}
),

persons as (
    select id as person_id, source_system, other_system_id, is_duplicate, is_deleted, created_date
    from leads
    union all
    select id as person_id, source_system, other_system_id, is_duplicate, is_deleted, created_date
    from contacts
),

persons_flagged as (
    select
        persons.source_system,
        persons.is_duplicate,
        persons.is_deleted,
        -- a CRM record names a Marketo person only when one is synced to it (B5)
        persons.source_system = 'Crm' and persons.other_system_id is not null   as has_marketo_match,
        dangling_crm_ids.person_id is not null                                  as has_dangling_crm_id,
        {{ reporting_period('month', 'persons.created_date') }}                 as created_month
    from persons
    left join dangling_crm_ids
        on persons.source_system = 'Marketo'
        and persons.person_id = dangling_crm_ids.person_id
),

counted as (
    select
        *,
        {{ 'true' if var('rpt_include_deleted', false) else 'not is_deleted' }}      as is_counted
    from persons_flagged
),

final as (
    select
        ---------- strings
        created_month,
        ---------- numerics
        -- counts, not sums of 1s: bigint on every warehouse (a sum of integers is 128-bit in DuckDB)
        count(case when is_counted and source_system = 'Crm' then 1 end)            as crm_persons,
        count(case when is_counted and source_system = 'Crm' and has_marketo_match then 1 end)
                                                                                    as crm_persons_with_marketo_match,
        count(case when is_counted and source_system = 'Crm' and not has_marketo_match then 1 end)
                                                                                    as crm_only_persons,
        count(case when is_counted and source_system = 'Marketo' then 1 end)        as marketo_persons,
        count(case when is_counted and source_system = 'Marketo' and is_duplicate then 1 end)
                                                                                    as matched_marketo_persons,
        count(case when is_counted and source_system = 'Marketo' and not is_duplicate then 1 end)
                                                                                    as marketo_only_persons,
        count(case when is_counted and source_system = 'Marketo' and has_dangling_crm_id then 1 end)
                                                                                    as dangling_synced_ids,
        count(case
            when not is_counted then null
            when source_system = 'Crm' then 1
            when not is_duplicate then 1
            {%- if var('rpt_include_duplicates', false) %}
            when is_duplicate then 1
            {%- endif %}
        end)                                                                        as report_persons,
        count(case when is_deleted and source_system = 'Crm' then 1 end)            as deleted_crm_persons,
        count(case when is_deleted and source_system = 'Marketo' then 1 end)        as deleted_marketo_persons
    from counted
    group by created_month
)

select * from final
{{ unless_inputs_changed() }}
