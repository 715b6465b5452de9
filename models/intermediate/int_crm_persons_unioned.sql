{#-
    Every CRM person, one row per (crm_system, person_type, person_id): Salesforce and Dynamics leads and
    contacts under one set of names. A converted lead and the contact it became are two persons.
    `account_id` is the CRM's own account link: a contact's account, a converted lead's converted account.
-#}
with

salesforce_leads as (
    select * from {{ ref('stg_salesforce__leads') }}
),

salesforce_contacts as (
    select * from {{ ref('stg_salesforce__contacts') }}
),

dynamics_leads as (
    select * from {{ ref('stg_dynamics__leads') }}
),

dynamics_contacts as (
    select * from {{ ref('stg_dynamics__contacts') }}
),

unioned as (
    select
        ---------- ids
        lead_id                                         as person_id,
        converted_account_id                            as account_id,
        converted_contact_id,
        ---------- strings
        'salesforce'                                    as crm_system,
        'lead'                                          as person_type,
        email,
        company,
        website,
        lead_source,
        status                                          as bizible_stage,
        ---------- booleans
        is_converted,
        is_deleted,
        ---------- timestamps
        converted_date,
        created_date,
        modified_date
    from salesforce_leads

    union all

    select
        contact_id                                      as person_id,
        account_id,
        cast(null as {{ dbt.type_string() }})           as converted_contact_id,
        'salesforce'                                    as crm_system,
        'contact'                                       as person_type,
        email,
        cast(null as {{ dbt.type_string() }})           as company,
        cast(null as {{ dbt.type_string() }})           as website,
        lead_source,
        cast(null as {{ dbt.type_string() }})           as bizible_stage,
        false                                           as is_converted,
        is_deleted,
        cast(null as {{ dbt.type_timestamp() }})        as converted_date,
        created_date,
        modified_date
    from salesforce_contacts

    union all

    select
        lead_id                                         as person_id,
        -- Dataverse keeps the parent links on open leads too; they mean "converted into" only once qualified
        case when is_converted then parent_account_id end   as account_id,
        case when is_converted then parent_contact_id end   as converted_contact_id,
        'dynamics'                                      as crm_system,
        'lead'                                          as person_type,
        email,
        company,
        website,
        lead_source,
        status                                          as bizible_stage,
        is_converted,
        is_deleted,
        -- Dataverse records no conversion time in the columns we load
        cast(null as {{ dbt.type_timestamp() }})        as converted_date,
        created_date,
        modified_date
    from dynamics_leads

    union all

    select
        contact_id                                      as person_id,
        account_id,
        cast(null as {{ dbt.type_string() }})           as converted_contact_id,
        'dynamics'                                      as crm_system,
        'contact'                                       as person_type,
        email,
        cast(null as {{ dbt.type_string() }})           as company,
        cast(null as {{ dbt.type_string() }})           as website,
        lead_source,
        cast(null as {{ dbt.type_string() }})           as bizible_stage,
        false                                           as is_converted,
        is_deleted,
        cast(null as {{ dbt.type_timestamp() }})        as converted_date,
        created_date,
        modified_date
    from dynamics_contacts
)

select * from unioned
{{ unless_inputs_changed() }}
