{#- Lower-cased, trimmed email; null when it has no '@' (such an email never matches anything). -#}
{% macro normalize_email(column) -%}
    case
        when {{ column }} is not null and position('@' in trim({{ column }})) > 1
            then lower(trim({{ column }}))
    end
{%- endmacro %}
