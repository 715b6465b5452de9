{#-
    The sources of the Spark target: the loaders write Parquet with dlt's `filesystem` destination, in its
    default layout under LAKE_PATH (a folder, or s3://, gs://, az://):

        <LAKE_PATH>/<dataset>/<table>/<load_id>.<file_id>.parquet      e.g. raw_marketo/leads/
        <LAKE_PATH>/<dataset>/_dlt_loads/<schema>__<load_id>.jsonl      dlt's load log
        <LAKE_PATH>/<dataset>/_dlt_version/...                          dlt's schema, with each table's keys

    on-run-start registers every source table of the project that has files there as a view
    `<dataset>.<table>` over its folder (so any tool that writes this layout feeds the build). The view reads
    the folder when queried: every landed file counts once, a later load's files included. The filesystem
    destination cannot merge, so it appends every delivered version of a record; where dlt's schema says the
    table is merged on a primary key, the view keeps one row per key, as a merge would have: the latest load's
    (the first load's for dlt's insert-only strategy), then by the table's dedup_sort column. A table whose
    folder holds files other than Parquet fails the run, naming them: they would otherwise not be read.
    A view is replaced only when its files or its definition changed; it carries their signature as a
    property (lake_signature_property), which the fingerprints of the person models read.
-#}

{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources', 'marketo_people')()) }}
{%- endmacro %}

{#- elsewhere the loaders write the raw tables themselves -#}
{% macro default__register_lake_sources() -%}
    {{ return('') }}
{%- endmacro %}

{% macro lake_signature_property() -%}
    {{ return('marketo_people.lake_files') }}
{%- endmacro %}

{% macro spark__register_lake_sources() -%}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set lake = env_var('LAKE_PATH', 'lake').rstrip('/') -%}
    {%- set tables = {} -%}
    {%- for node in graph.sources.values() -%}
        {%- do tables.setdefault(node.schema, []).append(node.identifier) -%}
    {%- endfor -%}
    {{ log("Registering the lake at LAKE_PATH=" ~ lake ~ " (" ~ tables | length ~ " datasets)", info=true) }}

    {#- every file in the lake, once: [dataset][table] -> [(path, bytes)]; dlt's own folders start with '_',
        which Spark's listing skips unless told (ignoredPathSegmentRegex, Spark 4.3) -#}
    {%- do run_query("create or replace temporary view lake_files using binaryFile options (path '"
        ~ lake ~ "', recursiveFileLookup 'true', ignoredPathSegmentRegex '^[.]')") -%}
    {%- set files = {} -%}
    {%- for path, bytes in run_query('select path, length from lake_files order by path').rows -%}
        {%- set parts = path.split('/') -%}
        {%- if parts | length >= 3 and parts[-3] in tables -%}
            {%- do files.setdefault(parts[-3], {}).setdefault(parts[-2], []).append((path, bytes)) -%}
        {%- endif -%}
    {%- endfor -%}

    {%- set hints = _lake_dlt_table_hints(lake, files) -%}
    {%- for schema, identifiers in tables.items() -%}
        {%- set registered = _lake_registered_views(schema) -%}
        {%- for identifier in identifiers -%}
            {%- set table_files = files.get(schema, {}).get(identifier, []) -%}
            {%- set relation = schema ~ '.' ~ identifier -%}
            {%- if not table_files -%}
                {#- a folder gone (another LAKE_PATH, a dataset dropped): its source is absent, not stale -#}
                {%- if registered is not none and identifier in registered -%}
                    {%- do run_query('drop view if exists ' ~ relation) -%}
                {%- endif -%}
            {%- else -%}
                {%- set view_sql = _lake_view_sql(lake, schema, identifier, table_files, hints.get(relation)) -%}
                {%- set signature = _lake_files_signature(table_files) ~ ':' ~ local_md5(view_sql) -%}
                {%- if registered is none -%}
                    {%- do run_query('create schema if not exists ' ~ schema) -%}
                    {%- set registered = {} -%}
                {%- endif -%}
                {%- if registered.get(identifier) != signature -%}
                    {%- do run_query('create or replace view ' ~ relation ~ " tblproperties ('"
                        ~ lake_signature_property() ~ "' = '" ~ signature ~ "') as " ~ view_sql) -%}
                {%- endif -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return('') }}
{%- endmacro %}

{#- The view over one table's folder. -#}
{% macro _lake_view_sql(lake, schema, identifier, table_files, hint) -%}
    {%- set folder = lake ~ '/' ~ schema ~ '/' ~ identifier -%}
    {%- set extension = '.jsonl' if identifier == '_dlt_loads' else '.parquet' -%}
    {%- set others = [] -%}
    {%- for path, bytes in table_files if not path.endswith(extension) -%}
        {%- do others.append(path) -%}
    {%- endfor -%}
    {%- if others -%}
        {%- do exceptions.raise_compiler_error(
            "LAKE_PATH " ~ folder ~ " holds " ~ others | length ~ " file(s) that are not " ~ extension ~ " (e.g. "
            ~ others[0] ~ "); the spark target reads the Parquet files of dlt's filesystem destination. Run the "
            ~ "loader with --destination filesystem (it writes Parquet), or move the other files away.") -%}
    {%- endif -%}
    {%- set reader = 'json' if extension == '.jsonl' else 'parquet' -%}
    {#- the folder, not a glob: every file in it is checked above, and a glob costs Spark a failed lookup -#}
    select * from {{ reader }}.`{{ folder }}`
    {%- if hint and hint.primary_key %}
    qualify row_number() over (
        partition by {{ hint.primary_key | join(', ') }}
        order by _dlt_load_id {{ 'asc' if hint.insert_only else 'desc' }}
            {%- for column, direction in hint.dedup_sort %}, {{ column }} {{ direction }}{% endfor %}
            {%- if hint.has_dlt_id %}, _dlt_id{% endif %}
    ) = 1
    {%- endif %}
{%- endmacro %}

{#-
    What dlt's schemas (<dataset>/_dlt_version, the latest version of each) say about each merged table:
    {'<dataset>.<table>': {'primary_key': [...], 'insert_only': bool, 'dedup_sort': [(column, direction)]}}.
-#}
{% macro _lake_dlt_table_hints(lake, files) -%}
    {%- set datasets = [] -%}
    {%- for schema, folders in files.items() if '_dlt_version' in folders -%}
        {%- do datasets.append(schema) -%}
    {%- endfor -%}
    {%- set hints = {} -%}
    {%- if not datasets -%}
        {{ return(hints) }}
    {%- endif -%}
    {%- set versions_sql -%}
        select _metadata.file_path as path, schema_name, version, schema
        from json.`{{ lake }}/{{ '{' ~ datasets | join(',') ~ '}' }}/_dlt_version/*`
        order by version
    {%- endset -%}
    {%- set latest = {} -%}
    {%- for path, schema_name, version, schema in run_query(versions_sql).rows -%}
        {%- do latest.update({(path.split('/')[-3], schema_name): schema}) -%}
    {%- endfor -%}
    {%- for (dataset, schema_name), schema in latest.items() -%}
        {%- for name, table in fromjson(schema).get('tables', {}).items() -%}
            {%- set disposition = table.get('write_disposition') -%}
            {%- set strategy = table.get('x-merge-strategy', 'delete-insert') -%}
            {%- set primary_key = [] -%}
            {%- set dedup_sort = [] -%}
            {#- rows landed from Arrow tables (the web loader's) carry no _dlt_id -#}
            {%- set has_dlt_id = '_dlt_id' in table.get('columns', {}) -%}
            {#- a column without a data type is a hint on a column no row has had yet: not in the files -#}
            {%- for column in table.get('columns', {}).values() if column.get('data_type') -%}
                {%- if column.get('primary_key') -%}
                    {%- do primary_key.append(column.name) -%}
                {%- endif -%}
                {%- if column.get('dedup_sort') -%}
                    {%- do dedup_sort.append((column.name, column.dedup_sort)) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- if disposition == 'merge' and primary_key -%}
                {%- do hints.update({dataset ~ '.' ~ name: {
                    'primary_key': primary_key, 'insert_only': strategy == 'insert-only', 'dedup_sort': dedup_sort,
                    'has_dlt_id': has_dlt_id}}) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(hints) }}
{%- endmacro %}

{#- count, bytes and latest file name: what changes when a load adds, or a replace swaps, files -#}
{% macro _lake_files_signature(table_files) -%}
    {%- set total = namespace(bytes=0) -%}
    {%- for path, bytes in table_files -%}
        {%- set total.bytes = total.bytes + bytes -%}
    {%- endfor -%}
    {{ return(table_files | length ~ ':' ~ total.bytes ~ ':' ~ (table_files | last)[0].split('/')[-1]) }}
{%- endmacro %}

{#- The lake views an earlier run registered in `schema`, {identifier: signature}; none when there is no such schema. -#}
{% macro _lake_registered_views(schema) -%}
    {%- set schemas = run_query('show schemas').columns[0].values() | map('lower') | list -%}
    {%- if schema | lower not in schemas -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set found = {} -%}
    {%- for namespace_, name, is_temporary, information in run_query('show table extended in ' ~ schema ~ " like '*'").rows if not is_temporary -%}
        {%- set signature = modules.re.search(lake_signature_property() ~ '=([^],\n]*)', information or '') -%}
        {%- if signature -%}
            {%- do found.update({name: signature.group(1)}) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(found) }}
{%- endmacro %}
