{#-
    The inputs fingerprints of the person models and reports (macros/rebuild_when_inputs_change.sql) on
    Spark: kept in each model table's own properties rather than in a table of their own, which Parquet
    could only append to (no UPDATE or DELETE) and which models finishing in parallel threads would write
    at the same time. Setting a property writes no file. Same contract as the default__ macros.
-#}

{% macro spark__create_inputs_fingerprints_table() -%}
    {{ return('') }}
{%- endmacro %}

{% macro _fingerprint_property(name) -%}
    {{ return('marketo_people.inputs_' ~ name) }}
{%- endmacro %}

{#- This run's stamp, as processed_at() writes it. -#}
{% macro _run_stamp() -%}
    {{ return(run_started_at.strftime("%Y-%m-%d %H:%M:%S.%f")) }}
{%- endmacro %}

{#- {fingerprint, rebuilt_at, checked_at} from the table's properties; {} for a table not built yet. -#}
{% macro _fingerprint_properties(relation) -%}
    {%- set found = {} -%}
    {%- if relation is not none -%}
        {%- for key, value in run_query('show tblproperties ' ~ relation).rows -%}
            {%- for name in ('fingerprint', 'rebuilt_at', 'checked_at') if key == _fingerprint_property(name) -%}
                {%- do found.update({name: value}) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(found) }}
{%- endmacro %}

{% macro _node_relation(node) -%}
    {{ return(adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias)) }}
{%- endmacro %}

{% macro spark__recorded_fingerprint() -%}
    {{ return(_fingerprint_properties(load_relation(this)).get('fingerprint')) }}
{%- endmacro %}

{% macro spark__record_inputs_fingerprint() -%}
    {%- if execute -%}
        {%- set compiled = model.compiled_code or '' -%}
        {%- set found = modules.re.search('-- inputs fingerprint: ([0-9a-f]+)', compiled) -%}
        {%- set current = found.group(1) if found else inputs_fingerprint() -%}
        {%- if is_incremental() and '-- inputs unchanged since the last build' in compiled -%}
        alter table {{ this }} set tblproperties ('{{ _fingerprint_property("checked_at") }}' = '{{ _run_stamp() }}')
        {%- else -%}
        alter table {{ this }} set tblproperties (
            '{{ _fingerprint_property("fingerprint") }}' = '{{ current }}',
            '{{ _fingerprint_property("rebuilt_at") }}' = '{{ _run_stamp() }}',
            '{{ _fingerprint_property("checked_at") }}' = '{{ _run_stamp() }}'
        )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro spark__kept_unchanged_in_this_run(node) -%}
    {%- set recorded = _fingerprint_properties(_node_relation(node)) -%}
    {{ return(recorded.get('checked_at') == _run_stamp() and recorded.get('rebuilt_at', _run_stamp()) < _run_stamp()) }}
{%- endmacro %}

{% macro spark__not_rebuilt_since_last_write(model_names) -%}
    {%- set latest = run_query('select max(_processed_at) from ' ~ this).columns[0].values()[0] -%}
    {%- if latest is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- for name in model_names -%}
        {%- set recorded = _fingerprint_properties(_node_relation(graph.nodes['model.' ~ project_name ~ '.' ~ name])) -%}
        {%- if recorded.get('rebuilt_at') is none or recorded.rebuilt_at > latest.strftime("%Y-%m-%d %H:%M:%S.%f") -%}
            {{ return(false) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(true) }}
{%- endmacro %}
