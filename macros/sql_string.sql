{#- `value` as a SQL string literal: single-quoted, its quotes doubled. -#}
{% macro sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}
