{#- Segment categories and their segments, from seeds/segment_rules.csv (Measure's BIZ_SEGMENT_NAMES). -#}
with

rules as (
    select * from {{ ref('segment_rules') }}
),

categories as (
    select
        category,
        min(priority)                                           as first_priority
    from rules
    group by 1
),

segments as (
    select
        category,
        segment,
        min(priority)                                           as priority
    from rules
    group by 1, 2
),

final as (
    select
        ---------- ids
        {{ dbt.hash("segments.category || '|' || segments.segment") }}   as id,
        ---------- strings
        segments.category,
        'category' || cast(dense_rank() over (order by categories.first_priority, categories.category) as {{ dbt.type_string() }})
                                                                as category_column,
        segments.segment                                        as segment_name,
        ---------- numerics
        segments.priority,
        ---------- booleans
        true                                                    as is_active
    from segments
    inner join categories
        on segments.category = categories.category
)

select * from final
