{#-
    Every source table's `loaded_at_query` (models/staging/*/_*__sources.yml): when dlt finished the last
    completed load (`_dlt_loads`, status 0) that wrote rows into the table. Rendered when
    `dbt source freshness` runs, so it can look at the table:

    - a table with dlt's `_dlt_load_id` column: the completed loads whose id its rows carry. A run of the
      loader that brought nothing for this table (a day without deletes, a Marketo run with no changed
      person) leaves its freshness as it was, so `source_status:fresher+` selects only what new rows feed;
    - the dataset's `_dlt_loads` table: its latest completed load (the loader ran);
    - a table without `_dlt_load_id` (landed by another tool): the dataset's latest completed load;
    - a table that does not exist (a source never loaded, e.g. a CRM not in use, B11): null, which dbt reads
      as "loaded infinitely long ago". The daily job reports such tables as not loaded, never as stale.

    `dbt source freshness` snapshots the result in target/sources.json; the daily job compares it with the
    last successful run's copy (orchestration/daily.py).
-#}
{% macro dlt_loaded_at() -%}
    {{ return(adapter.dispatch('dlt_loaded_at', 'marketo_people')(this)) }}
{%- endmacro %}

{% macro default__dlt_loaded_at(relation) -%}
    {%- set table = adapter.get_relation(database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- set loads = api.Relation.create(database=relation.database, schema=relation.schema, identifier='_dlt_loads') -%}
    {%- if table is none -%}
    select cast(null as {{ dbt.type_timestamp() }}) as loaded_at
    {%- elif relation.identifier | lower == '_dlt_loads' -%}
    select max(inserted_at) as loaded_at from {{ table }} where status = 0
    {%- elif '_dlt_load_id' in (adapter.get_columns_in_relation(table) | map(attribute='name') | map('lower') | list) -%}
    select max(loads.inserted_at) as loaded_at
    from {{ loads }} as loads
    where loads.status = 0
        and exists (select 1 from {{ table }} as table_rows where table_rows._dlt_load_id = loads.load_id)
    {%- else -%}
    select max(inserted_at) as loaded_at from {{ loads }} where status = 0
    {%- endif -%}
{%- endmacro %}
