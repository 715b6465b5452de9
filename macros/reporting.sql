{#-
    Reporting helpers for the rpt_* marts: mart timestamps (UTC timestamp_ntz) moved to the reporting time
    zone before they are cut into days and months, and the default exclusion of duplicate and deleted rows.
-#}

{#- The reporting time zone (var reporting_timezone, an IANA name; default UTC). -#}
{% macro reporting_timezone() -%}
    {{ return(var('reporting_timezone', 'UTC')) }}
{%- endmacro %}

{#- A UTC timestamp without time zone as the wall-clock time of the reporting time zone (timestamp_ntz). -#}
{% macro to_reporting_timezone(column) -%}
    {%- if reporting_timezone() | upper == 'UTC' -%}
        {{ column }}
    {%- else -%}
        {{ return(adapter.dispatch('to_reporting_timezone', 'marketo_people')(column, reporting_timezone())) }}
    {%- endif -%}
{%- endmacro %}

{% macro default__to_reporting_timezone(column, timezone) -%}
    convert_timezone('UTC', '{{ timezone }}', {{ column }})
{%- endmacro %}

{% macro duckdb__to_reporting_timezone(column, timezone) -%}
    timezone('{{ timezone }}', ({{ column }}) at time zone 'UTC')
{%- endmacro %}

{% macro postgres__to_reporting_timezone(column, timezone) -%}
    ((({{ column }}) at time zone 'UTC') at time zone '{{ timezone }}')
{%- endmacro %}

{% macro bigquery__to_reporting_timezone(column, timezone) -%}
    datetime(timestamp({{ column }}, 'UTC'), '{{ timezone }}')
{%- endmacro %}

{#- The reporting-time-zone day or month of a UTC timestamp, as a date. -#}
{% macro reporting_period(datepart, column) -%}
    cast({{ dbt.date_trunc(datepart, to_reporting_timezone(column)) }} as date)
{%- endmacro %}

{#-
    The rpt_* marts leave out duplicate (B5) and deleted (B12) rows unless vars rpt_include_duplicates /
    rpt_include_deleted say otherwise: a predicate on `relation`'s is_duplicate and is_deleted.
-#}
{% macro rpt_row_is_reported(relation) -%}
    ({{ 'true' if var('rpt_include_duplicates', false) else 'not ' ~ relation ~ '.is_duplicate' }}
    and {{ 'true' if var('rpt_include_deleted', false) else 'not ' ~ relation ~ '.is_deleted' }})
{%- endmacro %}
