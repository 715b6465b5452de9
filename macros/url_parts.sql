{#-
    The value of one query-string parameter of a URL, as written (not URL-decoded); null when absent or empty.
    url_parameter('landing', 'utm_source'): 'https://a.com/?utm_source=google&x=1' -> 'google'.
-#}
{% macro url_parameter(column, name) -%}
    {{ return(adapter.dispatch('url_parameter', 'marketo_people')(column, name)) }}
{%- endmacro %}

{#- DuckDB and Spark (Spark gives '' where nothing matches: nullif covers both) -#}
{% macro default__url_parameter(column, name) -%}
    nullif(regexp_extract({{ column }}, '[?&]{{ name }}=([^&#]*)', 1), '')
{%- endmacro %}

{#- Postgres has no regexp_extract: substring with a pattern returns its first group -#}
{% macro postgres__url_parameter(column, name) -%}
    nullif(substring({{ column }} from '[?&]{{ name }}=([^&#]*)'), '')
{%- endmacro %}

{% macro snowflake__url_parameter(column, name) -%}
    nullif(regexp_substr({{ column }}, '[?&]{{ name }}=([^&#]*)', 1, 1, 'e', 1), '')
{%- endmacro %}

{% macro bigquery__url_parameter(column, name) -%}
    nullif(regexp_extract({{ column }}, r'[?&]{{ name }}=([^&#]*)'), '')
{%- endmacro %}

{#- A URL without its query string and fragment: 'https://a.com/p?utm_source=x#top' -> 'https://a.com/p'. -#}
{% macro url_without_query(column) -%}
    nullif({{ dbt.split_part(dbt.split_part(column, "'#'", 1), "'?'", 1) }}, '')
{%- endmacro %}

{#- True when the URL carries any utm_* parameter (a tagged campaign link). -#}
{% macro url_has_utm(column) -%}
    coalesce(
        position('?utm_' in lower({{ column }})) > 0 or position('&utm_' in lower({{ column }})) > 0,
        false
    )
{%- endmacro %}
