{#-
    New persons: leads and contacts by month of creation (reporting time zone) × source_system × first-touch
    channel, with the person's segment values (category1..category15) so a segment can filter it. A person
    with no touchpoint gets the channel 'No touchpoint'. Duplicate and deleted persons are left out unless
    the vars say otherwise, so by default each human is counted once: as its CRM record when the Marketo
    person is synced to a loaded one, else as the Marketo person.
-#}
with

leads as (
    select * from {{ ref('biz_leads') }}
),

contacts as (
    select * from {{ ref('biz_contacts') }}
),

touchpoints as (
    select * from {{ ref('biz_touchpoints') }}
),

segments as (
    select * from {{ ref('int_persons_segmented') }}
),

persons as (
    select id as person_id, source_system, 'lead' as person_type, is_duplicate, is_deleted, created_date
    from leads
    union all
    select id as person_id, source_system, 'contact' as person_type, is_duplicate, is_deleted, created_date
    from contacts
),

reported_persons as (
    select *
    from persons
    where {{ rpt_row_is_reported('persons') }}
),

first_touches as (
    select
        source_system,
        person_id,
        channel
    from touchpoints
    where is_first_touch
),

persons_with_channel as (
    select
        reported_persons.person_id,
        reported_persons.source_system,
        reported_persons.person_type,
        coalesce(first_touches.channel, 'No touchpoint')                as first_touch_channel,
        {%- for i in range(1, 16) %}
        segments.category{{ i }},
        {%- endfor %}
        {{ reporting_period('month', 'reported_persons.created_date') }} as created_month
    from reported_persons
    left join first_touches
        on reported_persons.source_system = first_touches.source_system
        and reported_persons.person_id = first_touches.person_id
    left join segments
        on reported_persons.source_system = segments.source_system
        and reported_persons.person_id = segments.person_id
),

final as (
    select
        ---------- strings
        created_month,
        source_system,
        first_touch_channel,
        {%- for i in range(1, 16) %}
        category{{ i }},
        {%- endfor %}
        ---------- numerics
        -- counts, not sums of 1s: bigint on every warehouse (a sum of integers is 128-bit in DuckDB)
        count(case when person_type = 'lead' then 1 end)           as new_lead_count,
        count(case when person_type = 'contact' then 1 end)        as new_contact_count,
        count(*)                                                    as new_person_count
    from persons_with_channel
    group by
        created_month,
        source_system,
        first_touch_channel,
        {%- for i in range(1, 16) %}
        category{{ i }}{{ "," if not loop.last }}
        {%- endfor %}
)

select * from final
{{ unless_inputs_changed() }}
