{#- A company or account name for matching: lower-cased, trimmed, inner whitespace collapsed to one space. -#}
{% macro normalize_company(column) -%}
    {{ return(adapter.dispatch('normalize_company', 'marketo_people')(column)) }}
{%- endmacro %}

{% macro default__normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), '\s+', ' ', 'g'), '')
{%- endmacro %}

{#- Snowflake and BigQuery replace every occurrence by default and take no flags argument. -#}
{% macro snowflake__normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), '\\s+', ' '), '')
{%- endmacro %}

{% macro bigquery__normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), r'\s+', ' '), '')
{%- endmacro %}
