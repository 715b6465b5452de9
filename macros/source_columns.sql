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
    {%- set present = {} -%}
    {%- if execute and model.resource_type == 'unit_test' -%}
        {%- set existing = rel -%}
        {%- for name, type in columns.items() -%}
            {%- do present.update({name | lower: type}) -%}
        {%- endfor -%}
    {%- elif execute -%}
        {%- set existing = adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) -%}
        {%- if existing is not none -%}
            {%- for col in adapter.get_columns_in_relation(existing) -%}
                {%- do present.update({col.name | lower: col.dtype}) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    (
        select
        {%- for name, type in columns.items() %}
            {% if name | lower in present -%}
                {{ cast_source_column(adapter.quote(name), present[name | lower], type, rel ~ '.' ~ name) }}
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

{#-
    A landed column cast to the type staging wants. A value that does not fit fails the build on DuckDB and
    Postgres; so it does on Spark, whose casts give null instead (dbt-spark turns ANSI mode off).
-#}
{% macro cast_source_column(column, landed_type, type, label) -%}
    {{ return(adapter.dispatch('cast_source_column', 'marketo_people')(column, landed_type, type, label)) }}
{%- endmacro %}

{% macro default__cast_source_column(column, landed_type, type, label) -%}
    cast({{ column }} as {{ type }})
{%- endmacro %}

{% macro spark__cast_source_column(column, landed_type, type, label) -%}
    {%- if (landed_type | lower | trim) == (type | lower | trim) -%}
        {{ column }}
    {%- else -%}
        case
            when {{ column }} is not null and cast({{ column }} as {{ type }}) is null
                then raise_error(concat({{ sql_string(label ~ ': ') }}, cast({{ column }} as string), {{ sql_string(' is not a ' ~ type) }}))
            else cast({{ column }} as {{ type }})
        end
    {%- endif -%}
{%- endmacro %}
