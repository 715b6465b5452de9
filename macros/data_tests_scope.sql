{#-
    What a data test reads (var `data_tests_scope`), so a scheduled run's tests cost what the run wrote, not
    what the warehouse holds.

    'new' (default): a test on a model with `_processed_at` (the incremental web models and the touchpoints)
    checks the rows the latest run wrote there (`_processed_at` = its latest stamp: every row after a full
    build, the rewritten rows after an incremental run); a test on a staging view of landed events
    (`_dlt_load_id`, no `_processed_at`) checks the latest dlt load; a person model this run found unchanged
    (macros/rebuild_when_inputs_change.sql) is not read at all. Rows written by earlier runs were tested
    when they were written. A relationships test still looks its parents up in the whole parent model.
    'all': every test reads every row. Run it weekly and after upgrades:
        dbt test --vars '{data_tests_scope: all}'
    A test's own `where` config applies in both scopes.

    Overrides dbt's default__get_where_subquery, the macro that wraps the model a generic test reads.
-#}
{% macro default__get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set scope_condition = data_tests_scope_condition(relation) -%}
    {%- if scope_condition -%}
        {%- do conditions.append(scope_condition) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ conditions | join(' and ') }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}

{#-
    The row filter of the 'new' scope for `relation`, or none (every row). Decided from the tested model's
    node (the test's attached_node) and its documented columns, not from the warehouse's catalog: a model
    that stamps `_processed_at` must document the column (tests/test_docs.py checks it).
-#}
{% macro data_tests_scope_condition(relation) -%}
    {%- set scope = var('data_tests_scope', 'new') -%}
    {%- if scope not in ('new', 'all') -%}
        {{ exceptions.raise_compiler_error(
            "var data_tests_scope is '" ~ scope ~ "'; use 'new' (tests check what the latest run wrote) "
            ~ "or 'all' (tests read every row)") }}
    {%- endif -%}
    {%- set node = graph.nodes.get(model.get('attached_node') or '') if execute else none -%}
    {%- if scope == 'all' or node is none or relation is string -%}
        {%- do return(none) -%}
    {%- endif -%}
    {%- set columns = node.columns.keys() | map('lower') | list -%}
    {%- if '_processed_at' in columns -%}
        {#- the latest stamp, as a subquery: no query while compiling (DuckDB answers it from block statistics
            and skips older blocks: ~1 ms on 11M rows) -#}
        {%- do return("_processed_at = (select max(_processed_at) from " ~ relation ~ ")") -%}
    {%- elif '_dlt_load_id' in columns and load_relation(relation) is not none -%}
        {#- a literal: the column is a string, whose maximum no block statistic gives, and the view is read
            once per test (not before the view exists: `dbt compile` on an empty warehouse) -#}
        {%- set latest = run_query('select max(_dlt_load_id) from ' ~ relation).columns[0].values()[0] -%}
        {%- if latest is none -%}
            {%- do return(none) -%}
        {%- endif -%}
        {%- do return("_dlt_load_id = " ~ sql_string(latest)) -%}
    {%- elif node.config.get('incremental_strategy') == 'replace_if_changed' and kept_unchanged_in_this_run(node) -%}
        {%- do return('1 = 0') -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}
