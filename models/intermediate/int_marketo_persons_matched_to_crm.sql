{#-
    One row per Marketo person: does the CRM record its sync names (crm_synced_id, of the type and CRM the
    sync selects) exist in the loaded CRM tables? Yes -> the Marketo person is a duplicate of that record
    (B5). A synced id that names nothing loaded is dangling: not a duplicate, reported by the DQ model.
    A deleted CRM record is still loaded (B12), so it still makes a duplicate.
-#}
with

marketo_persons as (
    select * from {{ ref('int_marketo_persons_resolved') }}
),

crm_persons as (
    select * from {{ ref('int_crm_persons_unioned') }}
),

-- a CRM with no person rows at all is not loaded (or switched off): its ids dangle for that reason
loaded_crm_systems as (
    select
        crm_system,
        count(*) as n_persons
    from crm_persons
    group by 1
),

matched as (
    select
        ---------- ids
        marketo_persons.person_id,
        marketo_persons.crm_synced_id,
        crm_persons.person_id                                               as crm_person_id,
        crm_persons.account_id                                              as crm_account_id,
        ---------- strings
        marketo_persons.crm_synced_system,
        marketo_persons.crm_synced_type,
        case
            when marketo_persons.crm_synced_id is null or crm_persons.person_id is not null then null
            when loaded_crm_systems.crm_system is null then 'crm_not_loaded'
            else 'record_absent'
        end                                                                 as dangling_reason,
        ---------- booleans
        crm_persons.person_id is not null                                   as is_duplicate,
        marketo_persons.crm_synced_id is not null
            and crm_persons.person_id is null                               as has_dangling_crm_id,
        crm_persons.is_deleted                                              as is_crm_record_deleted,
        ---------- timestamps
        marketo_persons.modified_date
    from marketo_persons
    left join crm_persons
        on marketo_persons.crm_synced_system = crm_persons.crm_system
        and marketo_persons.crm_synced_type = crm_persons.person_type
        and marketo_persons.crm_synced_id = crm_persons.person_id
    left join loaded_crm_systems
        on marketo_persons.crm_synced_system = loaded_crm_systems.crm_system
)

select * from matched
{{ unless_inputs_changed() }}
