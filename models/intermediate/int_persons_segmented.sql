{#-
    Each person's segment in every category of seeds/segment_rules.csv (B6), as category1..category15 —
    Measure's layout. Which category is which column: biz_segment_names.
-#}
{% set rules = load_segment_rules() %}
{% set categories = segment_categories(rules) %}
-- depends_on: {{ ref('segment_rules') }}

with

persons as (
    select * from {{ ref('int_persons_unioned') }}
),

fields as (
    select
        *,
        {{ email_domain('email') }} as email_domain
    from persons
),

final as (
    select
        ---------- ids
        person_id,
        source_system,
        ---------- strings
        {%- for i in range(1, 16) %}
        {% if i <= categories | length -%}
        {{ segment_case(rules, categories[i - 1]) }}
        {%- else -%}
        cast(null as {{ dbt.type_string() }})
        {%- endif %} as category{{ i }}{{ "," if not loop.last }}
        {%- endfor %}
    from fields
)

select * from final
{{ unless_inputs_changed() }}
