{#-
    Labels of Dataverse's out-of-the-box option sets, so Dynamics persons read like Salesforce ones in the
    marts (Measure shows the label). Codes are read as text; a customised code without a label here is
    passed through as its number.
-#}
{% macro dynamics_lead_status_label(column) -%}
    case cast({{ column }} as {{ dbt.type_string() }})
        when '1' then 'New'
        when '2' then 'Contacted'
        when '3' then 'Qualified'
        when '4' then 'Lost'
        when '5' then 'Cannot Contact'
        when '6' then 'No Longer Interested'
        when '7' then 'Canceled'
        else cast({{ column }} as {{ dbt.type_string() }})
    end
{%- endmacro %}

{% macro dynamics_lead_source_label(column) -%}
    case cast({{ column }} as {{ dbt.type_string() }})
        when '1' then 'Advertisement'
        when '2' then 'Employee Referral'
        when '3' then 'External Referral'
        when '4' then 'Partner'
        when '5' then 'Public Relations'
        when '6' then 'Seminar'
        when '7' then 'Trade Show'
        when '8' then 'Web'
        when '9' then 'Word of Mouth'
        when '10' then 'Other'
        else cast({{ column }} as {{ dbt.type_string() }})
    end
{%- endmacro %}
