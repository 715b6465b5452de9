{#-
    `source_columns(...)` when the source is switched on, else the same typed columns with no rows.

    The Fivetran-style `using_<crm>` vars are an explicit off switch on top of source_columns' own
    "missing table -> empty" behaviour: they let a project ignore a CRM dataset that exists in the
    warehouse but is not in use (a trial load, a CRM being retired). When off, source() is never called,
    so the source can be disabled in YAML too.
-#}
{% macro enabled_source_columns(enabled, source_name, table_name, columns) %}
    {%- if enabled -%}
        {{ source_columns(source_name, table_name, columns) }}
    {%- else -%}
    (
        select
        {%- for name, type in columns.items() %}
            cast(null as {{ type }}) as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        where 1 = 0
    )
    {%- endif -%}
{% endmacro %}
