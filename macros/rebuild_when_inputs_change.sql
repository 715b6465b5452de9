{#-
    Person models (Marketo <-> CRM matching, lead-to-account, the lead/contact/account marts) read whole
    person tables, so an incremental version would rebuild them anyway; what a daily run can save is the
    rebuild itself when none of their inputs changed (a day of web events only). The rpt_* reports, which
    aggregate whole marts, are kept the same way when a run brings nothing new. dbt_project.yml gives them
    materialized='incremental' with incremental_strategy='replace_if_changed' and a post-hook
    record_inputs_fingerprint(); each ends with

        select * from final
        {{ unless_inputs_changed() }}

    The fingerprint covers every upstream node of the model: the row count and latest dlt load id
    (`_dlt_load_id`) of each source table, the file checksum of each upstream model and seed (an edited seed
    such as segment_rules, or edited SQL), and the project's vars. It is kept per model in the table
    `_inputs_fingerprints` of the target schema (on Spark, whose Parquet tables take no UPDATE or DELETE: in
    the model table's own properties). When it matches, the model selects nothing and keeps its rows; when
    it differs, the model selects every row and the strategy replaces the table's rows with them.
    Editing a macro is not seen: run `dbt build --full-refresh` after upgrading the project.
-#}

{#- Project vars that change what the models compute (keep in step with dbt_project.yml). -#}
{% macro fingerprinted_vars() -%}
    {{ return([
        'using_salesforce', 'using_dynamics', 'crm_email_duplicate_matching', 'session_timeout_minutes',
        'lead_creation_tolerance_minutes', 'u_shape_first_touch_percentage', 'u_shape_lead_creation_percentage',
        'reporting_timezone', 'rpt_include_duplicates', 'rpt_include_deleted',
    ]) }}
{%- endmacro %}

{% macro inputs_fingerprint() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set upstream = [] -%}
    {%- do _collect_upstream(model.unique_id, upstream) -%}
    {%- set parts = [] -%}
    {%- set sources = [] -%}
    {%- for uid in upstream | sort -%}
        {%- if uid in graph.sources -%}
            {%- set node = graph.sources[uid] -%}
            {%- set rel = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.identifier) -%}
            {%- if rel is none -%}
                {%- do parts.append(uid ~ '=absent') -%}
            {%- else -%}
                {%- do sources.append((uid, rel)) -%}
            {%- endif -%}
        {%- elif uid in graph.nodes -%}
            {%- do parts.append(uid ~ '=' ~ graph.nodes[uid].checksum.checksum) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if sources -%}
        {%- do parts.extend(source_states(sources)) -%}
    {%- endif -%}
    {%- for name in fingerprinted_vars() -%}
        {%- do parts.append('var.' ~ name ~ '=' ~ var(name, '')) -%}
    {%- endfor -%}
    {{ return(local_md5(parts | sort | join('\n'))) }}
{%- endmacro %}

{#-
    'uid=<state>' for each (uid, relation) in `sources`: what changes when a load lands in the table. Here its
    row count and latest dlt load id (`_dlt_load_id`, where the table has one): one catalog query, one count.
-#}
{% macro source_states(sources) -%}
    {{ return(adapter.dispatch('source_states', 'marketo_people')(sources)) }}
{%- endmacro %}

{% macro default__source_states(sources) -%}
    {%- set catalog_sql -%}
        select lower(table_schema) || '.' || lower(table_name)
        from information_schema.columns
        where lower(column_name) = '_dlt_load_id'
            and ({% for uid, rel in sources %}(lower(table_schema) = '{{ rel.schema | lower }}' and lower(table_name) = '{{ rel.identifier | lower }}'){{ " or " if not loop.last }}{% endfor %})
    {%- endset -%}
    {%- set with_load_id = run_query(catalog_sql).columns[0].values() -%}
    {{ return(_counted_source_states(sources, with_load_id)) }}
{%- endmacro %}

{#-
    Spark has no information_schema. A table registered from the lake (macros/spark/lake_sources.sql)
    carries its files' signature (count, bytes, latest file) as a property, which the relation dbt already
    listed shows: no query. Any other table is counted.
-#}
{% macro spark__source_states(sources) -%}
    {%- set states = [] -%}
    {%- set counted = [] -%}
    {%- set with_load_id = [] -%}
    {%- for uid, rel in sources -%}
        {%- set information = rel.information or '' -%}
        {%- set signature = modules.re.search(lake_signature_property() ~ '=([^],\n]*)', information) -%}
        {%- if signature -%}
            {%- do states.append(uid ~ '=' ~ signature.group(1)) -%}
        {%- else -%}
            {%- do counted.append((uid, rel)) -%}
            {%- if ' |-- _dlt_load_id:' in information -%}
                {%- do with_load_id.append((rel.schema | lower) ~ '.' ~ (rel.identifier | lower)) -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if counted -%}
        {%- do states.extend(_counted_source_states(counted, with_load_id)) -%}
    {%- endif -%}
    {{ return(states) }}
{%- endmacro %}

{#- row count and latest load of every source table: one query -#}
{% macro _counted_source_states(sources, with_load_id) -%}
    {%- set state_sql -%}
        {% for uid, rel in sources -%}
        select '{{ uid }}' as uid, cast(count(*) as {{ dbt.type_string() }}) as n_rows,
            {% if (rel.schema | lower) ~ '.' ~ (rel.identifier | lower) in with_load_id -%}
            cast(max(_dlt_load_id) as {{ dbt.type_string() }})
            {%- else -%}
            cast(null as {{ dbt.type_string() }})
            {%- endif %} as latest_load
        from {{ rel }}
        {{ "union all" if not loop.last }}
        {% endfor %}
    {%- endset -%}
    {%- set states = [] -%}
    {%- for row in run_query(state_sql).rows -%}
        {%- do states.append(row[0] ~ '=' ~ row[1] ~ '/' ~ row[2]) -%}
    {%- endfor -%}
    {{ return(states) }}
{%- endmacro %}

{% macro _collect_upstream(unique_id, acc) -%}
    {%- set node = graph.nodes.get(unique_id) -%}
    {%- if node is not none -%}
        {%- for parent in node.depends_on.nodes -%}
            {%- if parent not in acc -%}
                {%- do acc.append(parent) -%}
                {%- do _collect_upstream(parent, acc) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{% macro _fingerprints_relation() -%}
    {#- Spark has no database: target.get, not target.database -#}
    {{ return(api.Relation.create(database=target.get('database'), schema=target.schema, identifier='_inputs_fingerprints')) }}
{%- endmacro %}

{#- on-run-start creates it; `dbt compile` or `dbt show` run no hooks -#}
{% macro _fingerprints_table_exists() -%}
    {%- set rel = _fingerprints_relation() -%}
    {{ return(adapter.get_relation(database=rel.database, schema=rel.schema, identifier=rel.identifier) is not none) }}
{%- endmacro %}

{#- The fingerprint recorded by this model's last build, or none. -#}
{% macro _recorded_fingerprint() -%}
    {{ return(adapter.dispatch('recorded_fingerprint', 'marketo_people')()) }}
{%- endmacro %}

{% macro default__recorded_fingerprint() -%}
    {%- set rel = _fingerprints_relation() -%}
    {%- if not _fingerprints_table_exists() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set values = run_query(
        "select fingerprint from " ~ rel ~ " where model_id = '" ~ model.unique_id ~ "'").columns[0].values() -%}
    {{ return(values[0] if values else none) }}
{%- endmacro %}

{#-
    In an incremental run whose inputs match the recorded fingerprint: a filter that selects nothing. The
    compiled SQL also carries the fingerprint and the decision as comments, which the post-hook reads back
    instead of computing them again.
-#}
{% macro unless_inputs_changed() -%}
    {#- a unit test feeds the model its own rows: always the full select -#}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set current = inputs_fingerprint() -%}
        {%- if is_incremental() and _recorded_fingerprint() == current %}
    where 1 = 0 -- inputs unchanged since the last build: nothing to write
        {%- endif %}
    -- inputs fingerprint: {{ current }}
    {%- endif -%}
{%- endmacro %}

{#- on-run-start: the table of fingerprints (created once, before models run in parallel threads). -#}
{% macro create_inputs_fingerprints_table() -%}
    {{ return(adapter.dispatch('create_inputs_fingerprints_table', 'marketo_people')()) }}
{%- endmacro %}

{% macro default__create_inputs_fingerprints_table() -%}
    create schema if not exists {{ target.schema }};
    create table if not exists {{ _fingerprints_relation() }} (
        model_id {{ dbt.type_string() }},
        fingerprint {{ dbt.type_string() }},
        -- when the model was last rebuilt, and when a run last found its inputs unchanged or rebuilt it
        rebuilt_at {{ dbt.type_timestamp() }},
        checked_at {{ dbt.type_timestamp() }}
    )
{%- endmacro %}

{#- Post-hook: remember what the model was built from, and when (as the model's compiled SQL says). -#}
{% macro record_inputs_fingerprint() -%}
    {{ return(adapter.dispatch('record_inputs_fingerprint', 'marketo_people')()) }}
{%- endmacro %}

{% macro default__record_inputs_fingerprint() -%}
    {%- if execute -%}
        {%- set rel = _fingerprints_relation() -%}
        {%- set compiled = model.compiled_code or '' -%}
        {%- set found = modules.re.search('-- inputs fingerprint: ([0-9a-f]+)', compiled) -%}
        {%- set current = found.group(1) if found else inputs_fingerprint() -%}
        {%- if is_incremental() and '-- inputs unchanged since the last build' in compiled -%}
        update {{ rel }} set checked_at = {{ processed_at() }} where model_id = '{{ model.unique_id }}'
        {%- else -%}
        delete from {{ rel }} where model_id = '{{ model.unique_id }}';
        insert into {{ rel }} values ('{{ model.unique_id }}', '{{ current }}', {{ processed_at() }}, {{ processed_at() }})
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#-
    True when `node` (a model of this pattern) was run by this dbt invocation and found unchanged: its rows
    are those an earlier run wrote and tested, so data tests in scope 'new' skip it (one query, while the
    test compiles: a row filter would leave the warehouse scanning the table anyway).
-#}
{% macro kept_unchanged_in_this_run(node) -%}
    {{ return(adapter.dispatch('kept_unchanged_in_this_run', 'marketo_people')(node)) }}
{%- endmacro %}

{% macro default__kept_unchanged_in_this_run(node) -%}
    {%- set rel = _fingerprints_relation() -%}
    {%- if not _fingerprints_table_exists() -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set result = run_query(
        "select count(*) from " ~ rel ~ " where model_id = '" ~ node.unique_id ~ "' and checked_at = "
        ~ processed_at() ~ " and rebuilt_at < " ~ processed_at()) -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}

{#-
    True when the person models `model_names` all kept their rows (were not rebuilt) since the current
    incremental model last wrote (its latest `_processed_at`): what they hold was already seen then.
-#}
{% macro not_rebuilt_since_last_write(model_names) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {{ return(adapter.dispatch('not_rebuilt_since_last_write', 'marketo_people')(model_names)) }}
{%- endmacro %}

{% macro default__not_rebuilt_since_last_write(model_names) -%}
    {%- set rel = _fingerprints_relation() -%}
    {%- set ids = [] -%}
    {%- for name in model_names -%}
        {%- do ids.append("'model." ~ project_name ~ "." ~ name ~ "'") -%}
    {%- endfor -%}
    {%- set result = run_query(
        "select count(*) from " ~ rel ~ " where model_id in (" ~ ids | join(', ') ~ ") and rebuilt_at <= ("
        ~ "select max(_processed_at) from " ~ this ~ ")") -%}
    {{ return(result.columns[0].values()[0] == model_names | length) }}
{%- endmacro %}

{#-
    Incremental strategy 'replace_if_changed': when the model selected rows (its inputs changed), they
    replace every stored row; when it selected none, the table stays as it is.
-#}
{% macro get_incremental_replace_if_changed_sql(arg_dict) -%}
    {{ return(adapter.dispatch('replace_if_changed_sql', 'marketo_people')(
        arg_dict['target_relation'], arg_dict['temp_relation'], arg_dict['dest_columns'] | map(attribute='name') | list)) }}
{%- endmacro %}

{% macro default__replace_if_changed_sql(target, source, columns) -%}
    {%- set columns = get_quoted_csv(columns) -%}
    delete from {{ target }} where exists (select 1 from {{ source }});
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ source }}
{%- endmacro %}

{#-
    Rows of `relation` matching `condition` removed: a hook's DELETE. `condition` may name the table's
    columns through the relation itself ({{ this }}.column).
-#}
{% macro delete_rows(relation, condition) -%}
    {{ return(adapter.dispatch('delete_rows', 'marketo_people')(relation, condition)) }}
{%- endmacro %}

{% macro default__delete_rows(relation, condition) -%}
    delete from {{ relation }} where {{ condition }}
{%- endmacro %}
