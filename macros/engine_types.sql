{#-
    Type names that differ between engines, in one place: staging casts and the marts' contracts use them, so
    no model and no YAML is edited per engine. dbt's own dbt.type_*() cover the rest (dbt.type_string() is
    varchar on DuckDB and Postgres, string on Spark).
-#}

{#- What staging casts a loader's zoned timestamp to (dlt lands timestamps with a time zone, UTC). -#}
{% macro type_timestamp_tz() -%}
    {{ return(adapter.dispatch('type_timestamp_tz', 'marketo_people')()) }}
{%- endmacro %}

{% macro default__type_timestamp_tz() -%}
    timestamp with time zone
{%- endmacro %}

{#- Spark's `timestamp` is an instant (rendered in the session time zone, UTC in profiles.yml). -#}
{% macro spark__type_timestamp_tz() -%}
    timestamp
{%- endmacro %}

{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'marketo_people')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}

{#-
    Mart timestamps are UTC wall-clock times without a zone (Measure's timestamp_ntz). On Spark that is
    `timestamp_ntz`; its `timestamp` is an instant, which a Parquet reader would see as a zoned time. Overrides
    dbt-spark's type_timestamp, so processed_at(), the typed nulls and the contracts' `timestamp` agree.
-#}
{% macro spark__type_timestamp() -%}
    timestamp_ntz
{%- endmacro %}

{#-
    The contracts (models/marts/*.yml) declare standard type names: varchar, double precision, timestamp,
    numeric(p,s), bigint, integer, boolean, date. This is their name on the current engine.
-#}
{% macro contract_data_type(data_type) -%}
    {{ return(adapter.dispatch('contract_data_type', 'marketo_people')(data_type)) }}
{%- endmacro %}

{% macro default__contract_data_type(data_type) -%}
    {{ return(data_type) }}
{%- endmacro %}

{% macro spark__contract_data_type(data_type) -%}
    {%- set name = data_type | trim | lower -%}
    {%- set mapped = {
        'varchar': dbt.type_string(), 'text': dbt.type_string(), 'character varying': dbt.type_string(),
        'double precision': type_double(), 'timestamp': dbt.type_timestamp(), 'integer': 'int',
    }.get(name) -%}
    {%- if mapped is none and name.startswith('varchar(') -%}
        {%- set mapped = dbt.type_string() -%}
    {%- endif -%}
    {{ return(mapped or data_type) }}
{%- endmacro %}

{#-
    dbt checks a contract by casting nulls to the declared types (get_empty_schema_sql calls dbt.cast): on
    Spark the standard names go through contract_data_type first (Spark rejects varchar without a length
    and double precision).
-#}
{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ contract_data_type(type) }})
{%- endmacro %}
