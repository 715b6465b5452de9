{#-
    Segments (B6) are configuration: seeds/segment_rules.csv holds one row per condition.

      category, segment   the category (up to 15) and the segment a person gets when the segment's rules match
      priority            segments of a category are tried in this order; the first match wins. Categories
                          fill category1..category15 by their smallest priority: give a new category
                          priorities after the existing ones (Source uses 1-2) to keep the columns stable
      rule_group          conditions with the same group must all hold (AND); groups are alternatives (OR)
      field               a person field: see segment_fields() below
      operator            equals, not_equals, in, not_in (values separated by |), contains, starts_with,
                          ends_with, is_null, is_not_null
      value               compared case-insensitively

    The rules are read when the model runs (after the seed is loaded) and compiled into CASE expressions;
    a bad row fails the build with a message naming the row.
-#}

{% macro segment_fields() %}
    {{ return({
        'source_system': 'source_system',
        'person_type': 'person_type',
        'lead_source': 'lead_source',
        'bizible_stage': 'bizible_stage',
        'company': 'company',
        'website': 'website',
        'email_domain': "email_domain",
        'crm_system': 'crm_synced_system',
        'account_id': 'account_id',
        'is_converted': "cast(is_converted as " ~ dbt.type_string() ~ ")",
    }) }}
{% endmacro %}

{% macro segment_operators() %}
    {{ return(['equals', 'not_equals', 'in', 'not_in', 'contains', 'starts_with', 'ends_with', 'is_null', 'is_not_null']) }}
{% endmacro %}

{#- Rules as a list of dicts (seed rows, with their 1-based line number for error messages), validated. -#}
{% macro load_segment_rules() %}
    {#- `dbt compile` or `dbt docs generate` before the first `dbt seed`: no rules to read yet -#}
    {%- if not execute or load_relation(ref('segment_rules')) is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set result = run_query("select category, segment, priority, rule_group, field, operator, value from " ~ ref('segment_rules')) -%}
    {%- set fields = segment_fields() -%}
    {%- set operators = segment_operators() -%}
    {%- set rules = [] -%}
    {%- for row in result.rows -%}
        {%- set where = "seeds/segment_rules.csv row " ~ (loop.index + 1) ~ " (" ~ row[0] ~ " / " ~ row[1] ~ ")" -%}
        {%- if row[0] is none or (row[0] | string | trim) == '' -%}
            {%- do exceptions.raise_compiler_error(where ~ ": empty category") -%}
        {%- endif -%}
        {%- if row[1] is none or (row[1] | string | trim) == '' -%}
            {%- do exceptions.raise_compiler_error(where ~ ": empty segment") -%}
        {%- endif -%}
        {%- if row[4] not in fields -%}
            {%- do exceptions.raise_compiler_error(where ~ ": unknown field '" ~ row[4] ~ "'; use one of " ~ (fields.keys() | list | join(', '))) -%}
        {%- endif -%}
        {%- if row[5] not in operators -%}
            {%- do exceptions.raise_compiler_error(where ~ ": unknown operator '" ~ row[5] ~ "'; use one of " ~ (operators | join(', '))) -%}
        {%- endif -%}
        {%- if row[5] not in ('is_null', 'is_not_null') and (row[6] is none or (row[6] | string) == '') -%}
            {%- do exceptions.raise_compiler_error(where ~ ": operator '" ~ row[5] ~ "' needs a value") -%}
        {%- endif -%}
        {%- do rules.append({'category': row[0] | string | trim, 'segment': row[1] | string | trim,
                             'priority': row[2] | int, 'group': row[3] | string, 'field': row[4],
                             'operator': row[5], 'value': (row[6] | string) if row[6] is not none else none}) -%}
    {%- endfor -%}
    {%- set categories = segment_categories(rules) -%}
    {%- if categories | length > 15 -%}
        {%- do exceptions.raise_compiler_error("seeds/segment_rules.csv: " ~ (categories | length) ~ " categories; Measure's marts have room for 15 (category1..category15)") -%}
    {%- endif -%}
    {{ return(rules) }}
{% endmacro %}

{#- Categories in column order: by their smallest priority, then name (so Source, priorities 1-2, is category1). -#}
{% macro segment_categories(rules) %}
    {%- set first = {} -%}
    {%- for rule in rules -%}
        {%- if rule.category not in first or rule.priority < first[rule.category] -%}
            {%- do first.update({rule.category: rule.priority}) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set keyed = [] -%}
    {%- for name, p in first.items() -%}
        {%- do keyed.append({'name': name, 'p': p}) -%}
    {%- endfor -%}
    {{ return(keyed | sort(attribute='name') | sort(attribute='p') | map(attribute='name') | list) }}
{% endmacro %}

{%- macro _segment_condition(rule) -%}
    {%- set col = "lower(" ~ segment_fields()[rule.field] ~ ")" -%}
    {%- set v = (rule.value or '') | lower -%}
    {%- set values = [] -%}
    {%- for x in v.split('|') %}{% do values.append(sql_string(x | trim)) %}{% endfor -%}
    {%- if rule.operator == 'equals' -%} {{ col }} = {{ sql_string(v) }}
    {%- elif rule.operator == 'not_equals' -%} coalesce({{ col }}, '') <> {{ sql_string(v) }}
    {%- elif rule.operator == 'in' -%} {{ col }} in ({{ values | join(', ') }})
    {%- elif rule.operator == 'not_in' -%} coalesce({{ col }}, '') not in ({{ values | join(', ') }})
    {%- elif rule.operator == 'contains' -%} {{ col }} like {{ sql_string('%' ~ v ~ '%') }}
    {%- elif rule.operator == 'starts_with' -%} {{ col }} like {{ sql_string(v ~ '%') }}
    {%- elif rule.operator == 'ends_with' -%} {{ col }} like {{ sql_string('%' ~ v) }}
    {%- elif rule.operator == 'is_null' -%} {{ col }} is null
    {%- elif rule.operator == 'is_not_null' -%} {{ col }} is not null
    {%- endif -%}
{%- endmacro -%}

{#- CASE expression giving the segment of `category` for the row, or null when no segment matches. -#}
{% macro segment_case(rules, category) -%}
    {%- set segs = [] -%}
    {%- for rule in rules | sort(attribute='priority') if rule.category == category and rule.segment not in segs -%}
        {%- do segs.append(rule.segment) -%}
    {%- endfor -%}
    case
    {%- for seg in segs %}
        {%- set seg_rules = rules | selectattr('category', 'equalto', category) | selectattr('segment', 'equalto', seg) | list -%}
        {%- set groups = seg_rules | map(attribute='group') | unique | list %}
        when {% for g in groups %}({% for r in seg_rules if r.group == g %}({{ _segment_condition(r) }}){{ " and " if not loop.last }}{% endfor %}){{ " or " if not loop.last }}{% endfor %}
            then {{ sql_string(seg) }}
    {%- endfor %}
    end
{%- endmacro %}
