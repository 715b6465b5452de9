{#- `value` as a SQL string literal: single-quoted, its quotes doubled (and on Spark its backslashes too:
    Spark reads a backslash in a literal as an escape, so 'a\b' would silently become 'ab'). -#}
{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string', 'marketo_people')(value)) }}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__sql_string(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "''") }}'
{%- endmacro %}
