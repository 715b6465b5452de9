{#-
    Engagement (Discover): touchpoints and their lead-level attribution credit, one row per touchpoint month
    (reporting time zone) × channel × subchannel × campaign × source_system × segment values
    (category1..category15).
    Every category column is part of the grain, so a category added to seeds/segment_rules.csv can filter
    the report with no SQL edit. Duplicate and deleted touchpoints are left out unless the vars say otherwise.
-#}
with

touchpoints as (
    select * from {{ ref('biz_touchpoints') }}
),

reported as (
    select
        *,
        {{ reporting_period('month', 'touchpoint_date') }}     as touchpoint_month
    from touchpoints
    where {{ rpt_row_is_reported('touchpoints') }}
),

final as (
    select
        ---------- strings
        touchpoint_month,
        channel,
        subchannel,
        campaign,
        source_system,
        {%- for i in range(1, 16) %}
        category{{ i }},
        {%- endfor %}
        ---------- numerics
        count(*)                                                as touchpoint_count,
        -- a person id is unique within its source system, which is part of the grain
        count(distinct person_id)                               as people_touched,
        cast(count(*) as {{ type_double() }})
            / count(distinct person_id)                         as touchpoints_per_person,
        -- counts, not sums of 1s: bigint on every warehouse (a sum of integers is 128-bit in DuckDB)
        count(case when is_first_touch then 1 end)              as first_touch_count,
        count(case when is_lead_creation_touch then 1 end)      as lead_creation_touch_count,
        -- percentages are 0-100 (Measure): credit is in persons; a double on every engine (Postgres and
        -- Spark would keep a decimal quotient)
        cast(sum(first_click_percentage) / 100.0 as {{ type_double() }})      as first_touch_credit,
        cast(sum(last_anon_click_percentage) / 100.0 as {{ type_double() }})  as lead_creation_credit,
        cast(sum(u_shape_percentage) / 100.0 as {{ type_double() }})          as u_shape_credit
    from reported
    group by
        touchpoint_month,
        channel,
        subchannel,
        campaign,
        source_system,
        {%- for i in range(1, 16) %}
        category{{ i }}{{ "," if not loop.last }}
        {%- endfor %}
)

select * from final
{{ unless_inputs_changed() }}
