{#-
    The start of the current dbt invocation as a timestamp. Incremental web models stamp the rows they
    (re)write with it (`_processed_at`), and a downstream incremental model picks up the upstream rows
    stamped after its own latest stamp — so a model that failed or was skipped catches up on the next run.
-#}
{% macro processed_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#-
    The latest `_processed_at` already in this incremental model (a floor when it is empty), read when the
    model compiles and written as a literal: a filter `_processed_at > <literal>` lets any warehouse skip the
    blocks of older rows by their min/max statistics, where with a subquery that depends on the planner
    pushing its value into the scan. Call it once per model (each call is a query).
-#}
{% macro last_processed_at() -%}
    {%- set floor = "cast('1900-01-01' as " ~ dbt.type_timestamp() ~ ")" -%}
    {%- set stamp_sql = "select max(_processed_at) from " ~ this -%}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set latest = run_query(stamp_sql).columns[0].values()[0] -%}
        {%- if latest is none -%}
            {{ floor }}
        {%- else -%}
            cast('{{ latest.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
        {%- endif -%}
    {%- else -%}
        (select coalesce(max(_processed_at), {{ floor }}) from {{ this }})
    {%- endif -%}
{%- endmacro %}
