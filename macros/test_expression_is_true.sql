{#- Data test: every row satisfies `expression` (dbt_utils' expression_is_true); failing rows are returned. -#}
{% test expression_is_true(model, expression) %}
    select *
    from {{ model }}
    where not ({{ expression }})
{% endtest %}
