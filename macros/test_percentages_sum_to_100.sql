{#-
    Data test: within each group (e.g. a person), the percentages in `column_name` sum to 100 — or to 0 when
    `when_flag` is given and no row of the group has it true (a person without a lead-creation touch).
-#}
{% test percentages_sum_to_100(model, column_name, group_by, when_flag=none) %}
    with

    sums as (
        select
            {{ group_by | join(', ') }},
            sum({{ column_name }}) as percentage_sum,
            {% if when_flag %}
            max(case when {{ when_flag }} then 1 else 0 end) as expects_credit
            {% else %}
            1 as expects_credit
            {% endif %}
        from {{ model }}
        group by {{ group_by | join(', ') }}
    )

    select *
    from sums
    where percentage_sum <> case when expects_credit = 1 then 100 else 0 end
{% endtest %}

{#- Data test: every value of `column_name` lies between min_value and max_value (inclusive); nulls fail. -#}
{% test value_between(model, column_name, min_value, max_value) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} is null
        or {{ column_name }} < {{ min_value }}
        or {{ column_name }} > {{ max_value }}
{% endtest %}
