{#-
    Incremental models on Spark without Delta or Iceberg (plain Parquet tables, which refuse DELETE, UPDATE
    and MERGE, and an INSERT OVERWRITE that reads its own table).

    The models keep one config on every engine (delete+insert, or replace_if_changed for the person models
    and the reports). dbt-spark's incremental materialization only knows its own strategies; the two macros
    below let it run a project's strategy the way dbt-core's materialization does (the macro
    get_incremental_<strategy>_sql), and the spark__ strategies carry them out with what Parquet tables
    have: INSERT OVERWRITE, or, when the new rows were computed from the table itself (which an overwrite
    cannot read), a staged table renamed into its place. On a cluster with Delta tables (file_format: delta)
    dbt-spark's own `merge` is there too (README "Engines").
-#}

{% macro dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format) -%}
    {%- if raw_strategy in ('delete+insert', 'replace_if_changed') -%}
        {%- do return(raw_strategy) -%}
    {%- endif -%}
    {%- do return(dbt.dbt_spark_validate_get_incremental_strategy(raw_strategy, file_format)) -%}
{%- endmacro %}

{% macro dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates) -%}
    {%- if strategy in ('delete+insert', 'replace_if_changed') -%}
        {%- set strategy_macro = context['get_incremental_' ~ strategy | replace('+', '_') ~ '_sql'] -%}
        {%- do return(strategy_macro({
            'target_relation': target, 'temp_relation': source, 'unique_key': unique_key,
            'dest_columns': adapter.get_columns_in_relation(target), 'incremental_predicates': incremental_predicates,
        })) -%}
    {%- endif -%}
    {%- do return(dbt.dbt_spark_get_incremental_sql(strategy, source, target, existing, unique_key, incremental_predicates)) -%}
{%- endmacro %}

{#-
    delete+insert: the table's rows whose unique key is among the new rows are replaced by the new rows. The
    new rows are computed once (cached: the model may read its own table, and they are read twice), then the
    kept rows and the new ones replace the table.
-#}
{% macro spark__get_incremental_delete_insert_sql(arg_dict) -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set keys = arg_dict['unique_key'] -%}
    {%- set keys = [keys] if keys is string else keys -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='name') | list -%}
    {%- set new_rows = target.identifier ~ '__dbt_new' -%}
    {%- do spark_run('drop view if exists ' ~ new_rows) -%}
    {%- do spark_run('cache table ' ~ new_rows ~ ' as select * from ' ~ arg_dict['temp_relation']) -%}
    {%- set rows_sql -%}
        select {{ columns | join(', ') }}
        from {{ target }} as stored
        where not exists (
            select 1 from {{ new_rows }} as new_rows
            where {% for key in keys %}new_rows.{{ key }} = stored.{{ key }}{{ " and " if not loop.last }}{% endfor %}
        )
        union all
        select {{ spark_not_null_checked(columns) }}
        from {{ new_rows }}
    {%- endset -%}
    {%- do spark_overwrite(target, rows_sql, reads_target=true) -%}
    {#- dropping the cached view frees its cache -#}
    {{ return('drop view if exists ' ~ new_rows) }}
{%- endmacro %}

{#-
    replace_if_changed (macros/rebuild_when_inputs_change.sql): a model whose inputs did not change writes
    nothing; otherwise its rows replace the table's.
-#}
{% macro spark__replace_if_changed_sql(target, source, columns) -%}
    {%- if '-- inputs unchanged since the last build' in (model.compiled_code or '') -%}
        {{ return("select 'inputs unchanged: the table keeps its rows' as kept") }}
    {%- endif -%}
    {%- set rows_sql = 'select ' ~ spark_not_null_checked(columns) ~ ' from ' ~ source -%}
    {%- set reads_target = (target | string) in (model.compiled_code or '') -%}
    {%- if reads_target -%}
        {%- do spark_overwrite(target, rows_sql, reads_target=true) -%}
        {{ return("select 'replaced from a staged copy' as replaced") }}
    {%- endif -%}
    {{ return('insert overwrite table ' ~ target ~ ' ' ~ rows_sql) }}
{%- endmacro %}

{#-
    Rows of `relation` matching `condition` removed (a hook's DELETE): the other rows are staged and
    overwrite the table. A row where the condition is null stays, as with DELETE.
-#}
{% macro spark__delete_rows(relation, condition) -%}
    {%- set rows_sql = 'select * from ' ~ relation ~ ' where not coalesce((' ~ condition ~ '), false)' -%}
    {%- do spark_overwrite(relation, rows_sql, reads_target=true) -%}
    {{ return("select 'rows deleted by a staged overwrite' as deleted") }}
{%- endmacro %}

{#-
    `relation` overwritten by the rows of `rows_sql`. Rows read from the table itself cannot overwrite it:
    they are written to a staged table, which then takes the table's place (a rename: no second copy; the
    table's properties go with the old one, so this is for the delete+insert models, whose tables have none).
-#}
{% macro spark_overwrite(relation, rows_sql, reads_target) -%}
    {%- if reads_target -%}
        {%- set staged = relation.incorporate(path={'identifier': relation.identifier ~ '__dbt_staged'}, type='table') -%}
        {%- do spark_run('drop table if exists ' ~ staged) -%}
        {%- do spark_run('create table ' ~ staged ~ ' as ' ~ rows_sql) -%}
        {%- do spark_run('drop table ' ~ relation) -%}
        {%- do spark_run('alter table ' ~ staged ~ ' rename to ' ~ relation) -%}
    {%- else -%}
        {%- do spark_run('insert overwrite table ' ~ relation ~ ' ' ~ rows_sql) -%}
    {%- endif -%}
{%- endmacro %}

{#- One statement now (Spark runs one statement per call). -#}
{% macro spark_run(sql) -%}
    {%- call statement('spark_step') -%}{{ sql }}{%- endcall -%}
{%- endmacro %}

{#-
    Parquet tables do not enforce not_null, so the columns of a model whose contract says not_null are
    checked as the rows are written: a null fails the build naming the model and column (the way DuckDB's
    and Postgres's constraints do), and nothing is written.
-#}
{% macro spark_not_null_checked(columns) -%}
    {%- set not_null = [] -%}
    {%- if model.get('contract', {}).get('enforced') -%}
        {%- for name, column in model.columns.items() -%}
            {%- for constraint in column.get('constraints', []) if constraint.type == 'not_null' -%}
                {%- do not_null.append(name | lower) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set selected = [] -%}
    {%- for name in columns -%}
        {%- if name | lower in not_null -%}
            {%- do selected.append("case when " ~ name ~ " is null then raise_error("
                ~ sql_string(model.name ~ "." ~ name ~ ": a null in a not_null column (contract)")
                ~ ") else " ~ name ~ " end as " ~ name) -%}
        {%- else -%}
            {%- do selected.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(selected | join(', ')) }}
{%- endmacro %}

{#- The contract path of a new table (dbt-spark's create_table_as): the same not_null check. -#}
{% macro spark__get_select_subquery(sql) -%}
    select {{ spark_not_null_checked(model.columns.keys() | list) }}
    from (
        {{ sql }}
    ) as model_subq
{%- endmacro %}
