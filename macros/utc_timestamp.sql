{#- A loader timestamp (timestamptz from dlt) as a UTC timestamp without time zone (Measure's timestamp_ntz). -#}
{% macro utc_timestamp(column) -%}
    {{ return(adapter.dispatch('utc_timestamp', 'marketo_people')(column)) }}
{%- endmacro %}

{% macro default__utc_timestamp(column) -%}
    cast(({{ column }}) at time zone 'UTC' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- an instant as its wall-clock time in the session time zone, which profiles.yml sets to UTC -#}
{% macro spark__utc_timestamp(column) -%}
    cast({{ column }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro snowflake__utc_timestamp(column) -%}
    convert_timezone('UTC', {{ column }})::timestamp_ntz
{%- endmacro %}

{% macro bigquery__utc_timestamp(column) -%}
    datetime({{ column }}, 'UTC')
{%- endmacro %}

{#- `column` plus `minutes` (a number), keeping its type: dbt-spark's dateadd goes through unix seconds and
    returns Spark's zoned `timestamp`, which would no longer compare as a mart timestamp. -#}
{% macro add_minutes(column, minutes) -%}
    {{ return(adapter.dispatch('add_minutes', 'marketo_people')(column, minutes)) }}
{%- endmacro %}

{% macro default__add_minutes(column, minutes) -%}
    {{ dbt.dateadd('minute', minutes, column) }}
{%- endmacro %}

{% macro spark__add_minutes(column, minutes) -%}
    ({{ column }} + make_dt_interval(0, 0, {{ minutes }}, 0))
{%- endmacro %}
