{#- A company or account name for matching: lower-cased, trimmed, inner whitespace collapsed to one space. -#}
{% macro normalize_company(column) -%}
    {{ return(adapter.dispatch('normalize_company', 'marketo_people')(column)) }}
{%- endmacro %}

{#- DuckDB and Postgres: 'g' replaces every match (without it, only the first) -#}
{% macro default__normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), '\s+', ' ', 'g'), '')
{%- endmacro %}

{#- Spark replaces every match, and its fourth argument is a position (a 'g' there would make every value
    null); a backslash in its string literals is an escape, so the pattern's own is doubled. -#}
{% macro spark__normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), '\\s+', ' '), '')
{%- endmacro %}

{#- Snowflake and BigQuery replace every occurrence by default and take no flags argument. -#}
{% macro snowflake__normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), '\\s+', ' '), '')
{%- endmacro %}

{% macro bigquery__normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), r'\s+', ' '), '')
{%- endmacro %}
