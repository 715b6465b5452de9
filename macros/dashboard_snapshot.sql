{#-
    The dashboard never reads the file dbt writes. On DuckDB, a process that holds the warehouse file open,
    even read-only, makes the next `dbt build` fail on the file lock; so after every successful `dbt build` or
    `dbt run` (on-run-end in dbt_project.yml), this publishes what the dashboard reads as Parquet files in a
    folder beside the warehouse, and the dashboard reads those.

    Layout of the folder (env DASHBOARD_SNAPSHOT_DIR, default `<DUCKDB_PATH>.dashboard`):

        relation=<model>/part=<week | all | _schema>/<a | b>.parquet
        manifest.json       which file of each part is current, and the build that wrote it

    A part is rewritten into the slot the manifest does not name, then the manifest is replaced in one
    rename (DuckDB writes `tmp_manifest.json` and moves it over): a reader that took the manifest before sees
    the previous build whole, one that takes it after sees this build whole, never a mix. Nothing is
    deleted; each part has two slots. Holding no lock, the dashboard never makes a build fail.

    The cost grows with what the run changed, not with the warehouse: the relations by week
    (rpt_dashboard_touchpoints, _sessions, _form_emails) rewrite only the weeks whose rows changed (a daily
    run: the current week), and a relation none of whose upstream tables
    this run rewrote is not read at all. A run with a failed or skipped node publishes nothing, and the
    dashboard keeps showing the last complete build.

    Other warehouses hold no such lock: `default__` publishes nothing, and a dashboard there can read the
    rpt_dashboard_* views in place (dashboard/data.py names the relations it reads).
-#}

{#-
    The relations the dashboard reads: the column each is published by (none: whole) and the UTC timestamp it
    is cut from (a week of the reporting time zone lies within a day of the same UTC week: a filter on the
    timestamp, which the scan applies, spares the view its other columns outside it), and the column its rows
    are sorted by, in row groups small enough that a lookup of one email or visitor (the Journey page) reads a
    row group or two of each file, found by their min/max statistics.
-#}
{% macro dashboard_relations() -%}
    {{ return([
        {'name': 'rpt_dashboard_touchpoints', 'partition_by': 'touchpoint_week', 'timestamp': 'touchpoint_date',
            'key': 'touchpoint_id', 'order_by': 'email'},
        {'name': 'rpt_dashboard_sessions', 'partition_by': 'session_week', 'timestamp': 'session_started_at',
            'key': 'session_id', 'order_by': 'visitor_id'},
        {'name': 'rpt_dashboard_form_emails', 'partition_by': 'form_week', 'timestamp': 'form_date',
            'key': 'form_submit_id', 'order_by': 'email'},
        {'name': 'rpt_dashboard_persons', 'partition_by': none, 'fingerprint': 'upstream', 'order_by': 'email'},
        {'name': 'biz_segment_names', 'partition_by': none, 'fingerprint': 'content'},
    ]) }}
{%- endmacro %}

{#- Bumped when the layout changes: every part is then written again. -#}
{% macro dashboard_snapshot_format() -%}
    {{ return('3') }}
{%- endmacro %}

{#- on-run-end: `{{ publish_dashboard_snapshot(results) }}` -#}
{% macro publish_dashboard_snapshot(results) -%}
    {%- if execute and flags.WHICH in ('build', 'run') and var('dashboard_snapshot', true) -%}
        {%- do adapter.dispatch('publish_dashboard_snapshot', 'marketo_people')(results) -%}
    {%- endif -%}
{%- endmacro %}

{% macro default__publish_dashboard_snapshot(results) -%}
{%- endmacro %}

{#- The snapshot folder, or none when the warehouse is not a local file (in memory, MotherDuck). -#}
{% macro dashboard_snapshot_dir() -%}
    {%- set configured = env_var('DASHBOARD_SNAPSHOT_DIR', '') -%}
    {%- if configured -%}
        {{ return(configured) }}
    {%- endif -%}
    {%- set path = target.path or '' -%}
    {%- if path in ('', ':memory:') or path.startswith('md:') or path.startswith('motherduck:') -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(path ~ '.dashboard') }}
{%- endmacro %}

{% macro duckdb__publish_dashboard_snapshot(results) -%}
    {%- set unfinished = results | rejectattr('status', 'in', ['success', 'pass', 'warn']) | list -%}
    {%- if unfinished -%}
        {{ log("Dashboard snapshot not published: " ~ unfinished | length ~ " node(s) failed or were skipped; "
            ~ "the dashboard keeps showing the last complete build.", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- set dir = dashboard_snapshot_dir() -%}
    {%- if dir is none -%}
        {{ log("Dashboard snapshot not published: the warehouse is not a local file; set "
            ~ "DASHBOARD_SNAPSHOT_DIR to publish one.", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {%- set started = modules.datetime.datetime.now() -%}
    {%- set ran = results | selectattr('status', 'equalto', 'success') | map(attribute='node.unique_id') | list -%}
    {%- set previous = duckdb__dashboard_manifest(dir) -%}
    {%- set entries = [] -%}
    {%- set writes = [] -%}
    {%- set notes = [] -%}
    {#- relations with a part that no longer exists (its rows all deleted): the manifest must drop it -#}
    {%- set dropped = [] -%}
    {%- for spec in dashboard_relations() -%}
        {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ spec.name) -%}
        {%- set relation = none if node is none else
            adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
        {%- set before = previous | selectattr('relation', 'equalto', spec.name) | list -%}
        {%- if relation is none -%}
            {%- do entries.extend(before) -%}
            {%- continue -%}
        {%- endif -%}
        {%- set definition = local_md5(node.checksum.checksum ~ '|' ~ dashboard_snapshot_format() ~ '|'
            ~ _dashboard_vars()) -%}
        {%- set redefined = before | rejectattr('definition', 'equalto', definition) | list
            or not before -%}
        {%- if not redefined and not _dashboard_upstream_changed(node, ran) -%}
            {%- do entries.extend(before) -%}
            {%- continue -%}
        {%- endif -%}
        {%- set current = duckdb__dashboard_parts(spec, relation, definition, before, dir) -%}
        {%- set rewritten = [] -%}
        {%- for part in current -%}
            {%- set old = before | selectattr('part', 'equalto', part.part) | first -%}
            {%- if not part.changed -%}
                {%- do entries.append({'relation': spec.name, 'part': part.part, 'file': old.file, 'slot': old.slot,
                    'stamp': part.stamp, 'fingerprint': part.fingerprint, 'definition': definition}) -%}
            {%- else -%}
                {%- set slot = 'b' if old is defined and old.slot == 'a' else 'a' -%}
                {%- set file = 'relation=' ~ spec.name ~ '/part=' ~ part.part ~ '/' ~ slot ~ '.parquet' -%}
                {%- do entries.append({'relation': spec.name, 'part': part.part, 'file': file, 'slot': slot,
                    'stamp': part.stamp, 'fingerprint': part.fingerprint, 'definition': definition}) -%}
                {%- do writes.append({'spec': spec, 'relation': relation, 'part': part.part, 'file': file}) -%}
                {%- do rewritten.append(part.part) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do notes.append(spec.name ~ ' ' ~ rewritten | length ~ '/' ~ current | length ~ ' parts') -%}
        {%- if before | rejectattr('part', 'in', current | map(attribute='part') | list) | list -%}
            {%- do dropped.append(spec.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if not writes and not dropped -%}
        {{ log("Dashboard snapshot unchanged: this run changed nothing the dashboard reads.", info=True) }}
        {{ return('') }}
    {%- endif -%}
    {#- the folders, made by a partitioned write (DuckDB creates one level per COPY, and hive folders) -#}
    {%- set folders = [] -%}
    {%- for w in writes -%}
        {%- do folders.append('(' ~ sql_string(w.relation.identifier) ~ ', ' ~ sql_string(w.part) ~ ', 1)') -%}
    {%- endfor -%}
    {%- if folders -%}
    {%- do run_query("copy (select * from (values " ~ folders | join(', ') ~ ") as folders(relation, part, made)) to "
        ~ sql_string(dir) ~ " (format csv, partition_by (relation, part), overwrite_or_ignore true, "
        ~ "filename_pattern 'folder')") -%}
    {%- endif -%}
    {%- for spec in dashboard_relations() -%}
        {%- set parts = writes | selectattr('spec.name', 'equalto', spec.name) | list -%}
        {%- if not parts -%}
            {%- continue -%}
        {%- endif -%}
        {%- set relation = parts[0].relation -%}
        {%- set weeks = parts | rejectattr('part', 'equalto', '_schema') | list -%}
        {#- many weeks (a first publish, a full refresh): read from the view once; a daily run's week or two:
            straight from the view -#}
        {%- set source = relation -%}
        {%- if spec.partition_by and weeks | length > 2 -%}
            {%- set dates = [] -%}
            {%- for w in weeks -%}
                {%- do dates.append('cast(' ~ sql_string(w.part) ~ ' as date)') -%}
            {%- endfor -%}
            {%- do run_query("create or replace temp table _dashboard_rows as select * from " ~ relation ~ " where "
                ~ _dashboard_near(spec, weeks | map(attribute='part') | min, weeks | map(attribute='part') | max)
                ~ " and " ~ spec.partition_by ~ " in (" ~ dates | join(', ') ~ ")") -%}
            {%- set source = '_dashboard_rows' -%}
        {%- endif -%}
        {%- for w in parts -%}
            {%- if w.part == '_schema' -%}
                {%- set select = "select * from " ~ relation ~ " limit 0" -%}
            {%- elif spec.partition_by -%}
                {%- set select = "select * from " ~ source ~ " where " ~ _dashboard_near(spec, w.part, w.part)
                    ~ " and " ~ spec.partition_by ~ " = cast(" ~ sql_string(w.part) ~ " as date)" -%}
            {%- else -%}
                {%- set select = "select * from " ~ relation -%}
            {%- endif -%}
            {%- if spec.get('order_by') and w.part != '_schema' -%}
                {%- set select = select ~ " order by " ~ spec.order_by -%}
            {%- endif -%}
            {%- do run_query("copy (" ~ select ~ ") to " ~ sql_string(dir ~ '/' ~ w.file)
                ~ " (format parquet, row_group_size 16384)") -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- do run_query("drop table if exists _dashboard_rows") -%}
    {%- set seconds = (modules.datetime.datetime.now() - started).total_seconds() -%}
    {%- set rows = [] -%}
    {%- for e in entries -%}
        {%- set values = [] -%}
        {%- for value in [e.relation, e.part, e.file, e.slot, e.stamp, e.fingerprint, e.definition] -%}
            {%- do values.append(sql_string(value)) -%}
        {%- endfor -%}
        {%- do rows.append('(' ~ values | join(', ') ~ ')') -%}
    {%- endfor -%}
    {%- do run_query(
        "copy (select *, " ~ sql_string(invocation_id) ~ " as build_id, "
        ~ sql_string(run_started_at.strftime('%Y-%m-%dT%H:%M:%SZ')) ~ " as built_at, "
        ~ sql_string(var('reporting_timezone', 'UTC')) ~ " as reporting_timezone, "
        ~ seconds ~ " as publish_seconds from (values " ~ rows | join(', ')
        ~ ") as parts(relation, part, file, slot, stamp, fingerprint, definition)) to "
        ~ sql_string(dir ~ '/manifest.json') ~ " (format json, array true)") -%}
    {{ log("Dashboard snapshot published to " ~ dir ~ " in " ~ '%.1f' | format(seconds) ~ "s ("
        ~ notes | join(', ') ~ ")", info=True) }}
{%- endmacro %}

{#- The parts of the current manifest, as dicts; none when there is no snapshot yet. -#}
{% macro duckdb__dashboard_manifest(dir) -%}
    {%- set path = dir ~ '/manifest.json' -%}
    {%- if run_query("select count(*) from glob(" ~ sql_string(path) ~ ")").columns[0].values()[0] == 0 -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set columns = ['relation', 'part', 'file', 'slot', 'stamp', 'fingerprint', 'definition'] -%}
    {%- set table = run_query("select " ~ columns | join(', ') ~ " from read_json(" ~ sql_string(path)
        ~ ", format = 'array', columns = {" ~ columns | join(": 'varchar', ") ~ ": 'varchar'})") -%}
    {%- set parts = [] -%}
    {%- for row in table.rows -%}
        {%- set part = {} -%}
        {%- for name in columns -%}
            {%- do part.update({name: row[loop.index0]}) -%}
        {%- endfor -%}
        {%- do parts.append(part) -%}
    {%- endfor -%}
    {{ return(parts) }}
{%- endmacro %}

{#- The vars that change what the dashboard relations hold. -#}
{% macro _dashboard_vars() -%}
    {%- set parts = [] -%}
    {%- for name in fingerprinted_vars() -%}
        {%- do parts.append(name ~ '=' ~ var(name, '')) -%}
    {%- endfor -%}
    {{ return(parts | join(',')) }}
{%- endmacro %}

{#-
    True when this run rewrote a table upstream of `node`: a replace_if_changed model it rebuilt, an
    incremental model it stamped rows in, or any other table model it ran. Views and seeds hold nothing of
    their own (a seed's rows reach the marts through the tables built from it).
-#}
{% macro _dashboard_upstream_changed(node, ran) -%}
    {%- set upstream = [node.unique_id] -%}
    {%- do _collect_upstream(node.unique_id, upstream) -%}
    {%- for uid in upstream if uid in ran and uid.startswith('model.') -%}
        {%- set parent = graph.nodes[uid] -%}
        {%- set materialized = parent.config.materialized -%}
        {%- if materialized in ('view', 'ephemeral') -%}
            {%- continue -%}
        {%- elif parent.config.get('incremental_strategy') == 'replace_if_changed' -%}
            {%- if not kept_unchanged_in_this_run(parent) -%}
                {{ return(true) }}
            {%- endif -%}
        {%- elif materialized == 'incremental' and '_processed_at' in parent.columns -%}
            {%- set rel = adapter.get_relation(database=parent.database, schema=parent.schema,
                identifier=parent.alias) -%}
            {%- if rel is not none and run_query("select count(*) from " ~ rel ~ " where _processed_at = "
                    ~ processed_at()).columns[0].values()[0] > 0 -%}
                {{ return(true) }}
            {%- endif -%}
        {%- else -%}
            {{ return(true) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(false) }}
{%- endmacro %}

{#-
    The parts of a relation as it is now: [{part, stamp, fingerprint, changed}], `changed` against the
    published parts (`before`).

    By week, the stamp is the week's row count and latest `_processed_at`. Every write stamps the rows it
    writes, so a week whose stamp did not move is unchanged, and one whose count moved has changed. When only
    the latest stamp moved, the model wrote rows again, maybe with the same values (biz_touchpoints rewrites
    every touchpoint of a person with a new web visit): the rows stamped since the publish are compared with
    the published rows of the same keys, read from the week's Parquet file. The rest of the week is what was
    published (written before it), so equal counts and equal hashes mean an unchanged week — work in
    proportion to the rows the run wrote, not to the week. An empty `_schema` part keeps the columns when
    there are no rows.

    Whole: a hash of every row (small tables), or the run itself (a relation whose upstream changed).
-#}
{% macro duckdb__dashboard_parts(spec, relation, definition, before, dir) -%}
    {%- set parts = [] -%}
    {%- if not spec.partition_by -%}
        {%- if spec.fingerprint == 'content' -%}
            {%- set row = run_query("select count(*), bit_xor(hash(t)) from " ~ relation ~ " as t").rows[0] -%}
            {%- set fingerprint = row[0] ~ '/' ~ row[1] ~ '/' ~ definition -%}
        {%- else -%}
            {%- set fingerprint = invocation_id -%}
        {%- endif -%}
        {%- set old = before | selectattr('part', 'equalto', 'all') | first -%}
        {%- do parts.append({'part': 'all', 'stamp': '', 'fingerprint': fingerprint,
            'changed': old is not defined or old.fingerprint != fingerprint}) -%}
        {{ return(parts) }}
    {%- endif -%}
    {%- set old = before | selectattr('part', 'equalto', '_schema') | first -%}
    {%- do parts.append({'part': '_schema', 'stamp': '', 'fingerprint': '',
        'changed': old is not defined or old.definition != definition}) -%}
    {%- set checks = [] -%}
    {%- for part, count, latest in run_query("select cast(" ~ spec.partition_by ~ " as varchar), count(*), "
            ~ "coalesce(cast(max(_processed_at) as varchar), '') from " ~ relation ~ " group by 1 order by 1").rows -%}
        {%- set stamp = count ~ '/' ~ latest -%}
        {%- set old = before | selectattr('part', 'equalto', part) | first -%}
        {%- if old is not defined or old.definition != definition or not old.stamp -%}
            {%- set changed = true -%}
        {%- elif old.stamp == stamp -%}
            {%- set changed = false -%}
        {%- elif old.stamp.split('/')[0] != count | string or not latest -%}
            {%- set changed = true -%}
        {%- else -%}
            {%- set changed = none -%}
            {%- do checks.append({'part': part, 'since': old.stamp.split('/', 1)[1], 'file': dir ~ '/' ~ old.file}) -%}
        {%- endif -%}
        {%- do parts.append({'part': part, 'stamp': stamp, 'fingerprint': '', 'changed': changed}) -%}
    {%- endfor -%}
    {%- if checks -%}
        {#- rows stamped since the earliest of those publishes (a few more rows than needed, all written since) -#}
        {%- set since = checks | map(attribute='since') | min -%}
        {%- set weeks = [] -%}
        {%- set files = [] -%}
        {%- for c in checks -%}
            {%- do weeks.append('cast(' ~ sql_string(c.part) ~ ' as date)') -%}
            {%- do files.append(sql_string(c.file)) -%}
        {%- endfor -%}
        {%- set compare -%}
            with fresh as materialized (
                select cast(v.{{ spec.partition_by }} as varchar) as part, v.{{ spec.key }} as key, hash(v) as row_hash
                from (
                    select * exclude (_processed_at) from {{ relation }}
                    where _processed_at > cast({{ sql_string(since) }} as timestamp)
                        and {{ spec.partition_by }} in ({{ weeks | join(', ') }})
                ) as v
            ),
            published as (
                select cast(v.{{ spec.partition_by }} as varchar) as part, hash(v) as row_hash
                from (
                    select * exclude (_processed_at)
                    from read_parquet([{{ files | join(', ') }}], hive_partitioning = false)
                    where {{ spec.key }} in (select key from fresh)
                ) as v
            ),
            now_side as (select part, count(*) as n, bit_xor(row_hash) as h from fresh group by 1),
            then_side as (select part, count(*) as n, bit_xor(row_hash) as h from published group by 1)
            select now_side.part, then_side.n is not null and now_side.n = then_side.n and now_side.h = then_side.h
            from now_side
            left join then_side on now_side.part = then_side.part
        {%- endset -%}
        {%- set same = {} -%}
        {%- for part, equal in run_query(compare).rows -%}
            {%- do same.update({part: equal}) -%}
        {%- endfor -%}
        {%- for part in parts if part.changed is none -%}
            {%- do part.update({'changed': not same.get(part.part, false)}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(parts) }}
{%- endmacro %}


{#- The rows of weeks `first`..`last` lie within this range of their UTC timestamp (time zones: at most a day). -#}
{% macro _dashboard_near(spec, first, last) -%}
    {{ spec.timestamp }} >= cast({{ sql_string(first) }} as date) - interval 1 day
    and {{ spec.timestamp }} < cast({{ sql_string(last) }} as date) + interval 8 day
{%- endmacro %}
