{#-
    Every person the marts know, one row per (source_system, person_id): Marketo persons today; CRM leads
    and contacts join this union when a CRM is loaded. Touchpoints, segments and the lead/contact marts
    read persons from here only.
-#}
with

marketo_persons as (
    select * from {{ ref('int_marketo_persons_resolved') }}
),

marketo as (
    select
        ---------- ids
        person_id,
        case when person_type = 'contact' then crm_synced_account_id end    as account_id,
        cast(null as {{ dbt.type_string() }})                               as converted_contact_id,
        cast(null as {{ dbt.type_string() }})                               as other_system_id,
        crm_synced_id,
        ---------- strings
        'Marketo'                                                           as source_system,
        person_type,
        crm_synced_system,
        crm_synced_type,
        email,
        company,
        website,
        lead_source,
        bizible_stage,
        ---------- booleans
        false                                                               as is_converted,
        is_deleted,
        false                                                               as is_duplicate,
        ---------- timestamps
        cast(null as {{ dbt.type_timestamp() }})                            as converted_date,
        created_date,
        modified_date
    from marketo_persons
)

select * from marketo
