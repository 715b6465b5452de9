{#-
    The host of a URL or bare domain: lower-cased; scheme, credentials, port, path, query and fragment
    dropped; a leading 'www.' removed. 'https://WWW.Acme.com:443/x?y' -> 'acme.com'. Null for blank input.
-#}
{% macro url_domain(column) -%}
    {{ return(adapter.dispatch('url_domain', 'marketo_people')(column)) }}
{%- endmacro %}

{% macro default__url_domain(column) -%}
    nullif(
        regexp_replace(
            regexp_replace(
                regexp_replace(lower(trim({{ column }})), '^[a-z][a-z0-9+.-]*://', ''),
                '^[^/?#]*@|[:/?#].*$', '', 'g'
            ),
            '^www\.', ''
        ),
        ''
    )
{%- endmacro %}

{#- Spark: no flags argument (it replaces every match; a fourth argument is a position) and backslashes
    doubled (an escape in its string literals). -#}
{% macro spark__url_domain(column) -%}
    nullif(
        regexp_replace(
            regexp_replace(
                regexp_replace(lower(trim({{ column }})), '^[a-z][a-z0-9+.-]*://', ''),
                '^[^/?#]*@|[:/?#].*$', ''
            ),
            '^www\\.', ''
        ),
        ''
    )
{%- endmacro %}

{#- The domain part of an email (after the last '@'); null without '@'. -#}
{% macro email_domain(column) -%}
    case
        when position('@' in {{ column }}) > 0
            then nullif(lower(trim(regexp_replace({{ column }}, '^.*@', ''))), '')
    end
{%- endmacro %}
