{#- A company or account name for matching: lower-cased, trimmed, inner whitespace collapsed to one space. -#}
{% macro normalize_company(column) -%}
    nullif(regexp_replace(lower(trim({{ column }})), '\s+', ' ', 'g'), '')
{%- endmacro %}
