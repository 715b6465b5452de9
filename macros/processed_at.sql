{#-
    The start of the current dbt invocation as a timestamp. Incremental web models stamp the rows they
    (re)write with it (`_processed_at`), and a downstream incremental model picks up the upstream rows
    stamped after its own latest stamp — so a model that failed or was skipped catches up on the next run.
-#}
{% macro processed_at() -%}
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- The latest `_processed_at` already in this incremental model (a floor when it is empty). -#}
{% macro last_processed_at() -%}
    (select coalesce(max(_processed_at), cast('1900-01-01' as {{ dbt.type_timestamp() }})) from {{ this }})
{%- endmacro %}
