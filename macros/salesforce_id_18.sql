{#-
    A Salesforce id in its 18-character form. The same record reaches us as a 15-character id (case-sensitive:
    reports, spreadsheets, some sync fields) and as the 18-character id the API returns, whose 3 extra
    characters say, five characters at a time, which of the first 15 are upper case (bit i set when character
    i of the chunk is; the 5-bit number indexes 'A'..'Z', '0'..'5'). Converting every id to 18 characters makes
    one record one id wherever ids are compared. Any value that is not 15 characters long comes back as it is.
    Standard SQL only (substring, lower, ||-free concat through dbt.concat): every engine runs it.
    '001A0000006Vm9r' -> '001A0000006Vm9rIAC'
-#}
{% macro salesforce_id_18(column) -%}
    case
        when {{ dbt.length(column) }} = 15 then {{ dbt.concat([column] + _salesforce_id_checksum_chars(column)) }}
        else {{ column }}
    end
{%- endmacro %}

{#- The three checksum characters of a 15-character id, as SQL expressions. -#}
{% macro _salesforce_id_checksum_chars(column) -%}
    {%- set chars = [] -%}
    {%- for chunk in range(3) -%}
        {%- set bits = [] -%}
        {%- for i in range(5) -%}
            {%- set position = chunk * 5 + i + 1 -%}
            {%- do bits.append(
                "case when substring(" ~ column ~ ", " ~ position ~ ", 1) <> lower(substring(" ~ column ~ ", "
                ~ position ~ ", 1)) then " ~ (2 ** i) ~ " else 0 end") -%}
        {%- endfor -%}
        {%- do chars.append("substring('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', 1 + " ~ bits | join(" + ") ~ ", 1)") -%}
    {%- endfor -%}
    {{ return(chars) }}
{%- endmacro %}
