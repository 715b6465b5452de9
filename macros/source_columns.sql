{#-
    A source table as a subquery with exactly the given columns, cast to the given types.

    - A column the loader never created (dlt creates no column that was null in every row so far,
      e.g. msft_* on an instance without the Dynamics sync) comes out as a typed null.
    - A table that does not exist yet (a source not configured: Marketo-only mode, B11; no web data
      yet) comes out as an empty relation, so `dbt build` never fails on a missing source.

    columns: a mapping of column name -> SQL type, e.g. {'id': dbt.type_bigint(), 'email': dbt.type_string()}

    In a unit test, source() is the test's fixture: it has every column (a `format: sql` fixture lists them
    all), so staging models can be unit tested whether or not the raw table exists.
-#}
{% macro source_columns(source_name, table_name, columns) %}
    {%- set rel = source(source_name, table_name) -%}
    {%- set existing = none -%}
    {%- set present = [] -%}
    {%- if execute and model.resource_type == 'unit_test' -%}
        {%- set existing = rel -%}
        {%- for name in columns -%}
            {%- do present.append(name | lower) -%}
        {%- endfor -%}
    {%- elif execute -%}
        {%- set existing = adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) -%}
        {%- if existing is not none -%}
            {%- for col in adapter.get_columns_in_relation(existing) -%}
                {%- do present.append(col.name | lower) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    (
        select
        {%- for name, type in columns.items() %}
            {% if name | lower in present -%}
                cast({{ adapter.quote(name) }} as {{ type }})
            {%- else -%}
                cast(null as {{ type }})
            {%- endif %} as {{ name }}{{ "," if not loop.last }}
        {%- endfor %}
        {% if existing is not none -%}
        from {{ rel }}
        {%- else -%}
        where 1 = 0
        {%- endif %}
    )
{% endmacro %}
