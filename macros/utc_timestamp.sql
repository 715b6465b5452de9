{#- A loader timestamp (timestamptz from dlt) as a UTC timestamp without time zone (Measure's timestamp_ntz). -#}
{% macro utc_timestamp(column) -%}
    {{ return(adapter.dispatch('utc_timestamp', 'marketo_people')(column)) }}
{%- endmacro %}

{% macro default__utc_timestamp(column) -%}
    cast(({{ column }}) at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro snowflake__utc_timestamp(column) -%}
    convert_timezone('UTC', {{ column }})::timestamp_ntz
{%- endmacro %}

{% macro bigquery__utc_timestamp(column) -%}
    datetime({{ column }}, 'UTC')
{%- endmacro %}
