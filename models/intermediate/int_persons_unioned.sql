{#-
    Every person the marts know, one row per (source_system, person_id): Marketo persons and, when a CRM is
    loaded, CRM leads and contacts. Touchpoints, segments and the lead/contact marts read persons from here
    only, so a CRM person gets its own (recreated) touchpoints through the same email join (B5).

    Duplicates (B5): a Marketo person whose synced CRM record is loaded is a duplicate and names it in
    other_system_id; the CRM record names the most recently updated of the Marketo persons that point to it.
    Accounts: a CRM contact keeps its account and a converted CRM lead its converted account; a Marketo
    person in biz_contacts takes the account of the CRM contact it is synced to, else its synced account id;
    everyone else (and a converted lead without an account) gets lead-to-account (B8).
-#}
with

marketo_persons as (
    select * from {{ ref('int_marketo_persons_resolved') }}
),

crm_persons as (
    select * from {{ ref('int_crm_persons_unioned') }}
),

crm_matches as (
    select * from {{ ref('int_marketo_persons_matched_to_crm') }}
),

email_matches as (
    select * from {{ ref('int_marketo_persons_matched_by_email') }}
),

account_matches as (
    select * from {{ ref('int_leads_matched_to_accounts') }}
),

-- the Marketo person a CRM record reports: the most recently updated of those synced to it
crm_twins as (
    select
        crm_synced_system                                                   as crm_system,
        crm_synced_type                                                     as person_type,
        crm_synced_id                                                       as crm_person_id,
        person_id                                                           as marketo_person_id,
        row_number() over (
            partition by crm_synced_system, crm_synced_type, crm_synced_id
            order by modified_date desc nulls last, person_id
        )                                                                   as twin_rank
    from crm_matches
    where is_duplicate
),

marketo as (
    select
        ---------- ids
        marketo_persons.person_id,
        case
            when marketo_persons.person_type = 'contact'
                then coalesce(crm_matches.crm_account_id, marketo_persons.crm_synced_account_id, account_matches.account_id)
            else account_matches.account_id
        end                                                                 as account_id,
        cast(null as {{ dbt.type_string() }})                               as converted_contact_id,
        case when crm_matches.is_duplicate then marketo_persons.crm_synced_id end   as other_system_id,
        marketo_persons.crm_synced_id,
        email_matches.crm_person_id                                         as email_matched_crm_id,
        ---------- strings
        'Marketo'                                                           as source_system,
        marketo_persons.person_type,
        marketo_persons.crm_synced_system,
        marketo_persons.crm_synced_type,
        marketo_persons.email,
        marketo_persons.company,
        marketo_persons.website,
        marketo_persons.lead_source,
        marketo_persons.bizible_stage,
        case
            when marketo_persons.person_type = 'contact' and crm_matches.crm_account_id is not null
                then 'synced_contact_account'
            when marketo_persons.person_type = 'contact' and marketo_persons.crm_synced_account_id is not null
                then 'synced_account_id'
            else account_matches.account_match_method
        end                                                                 as account_match_method,
        ---------- booleans
        false                                                               as is_converted,
        marketo_persons.is_deleted,
        crm_matches.is_duplicate,
        email_matches.person_id is not null                                 as is_email_duplicate,
        ---------- timestamps
        cast(null as {{ dbt.type_timestamp() }})                            as converted_date,
        marketo_persons.created_date,
        marketo_persons.modified_date
    from marketo_persons
    inner join crm_matches
        on marketo_persons.person_id = crm_matches.person_id
    left join email_matches
        on marketo_persons.person_id = email_matches.person_id
    left join account_matches
        on account_matches.source_system = 'Marketo'
        and marketo_persons.person_id = account_matches.person_id
),

crm as (
    select
        ---------- ids
        crm_persons.person_id,
        case
            when crm_persons.person_type = 'contact' then crm_persons.account_id
            else coalesce(crm_persons.account_id, account_matches.account_id)
        end                                                                 as account_id,
        crm_persons.converted_contact_id,
        crm_twins.marketo_person_id                                         as other_system_id,
        -- a CRM person is itself the record: crm_synced_* name it, so both sides read alike
        crm_persons.person_id                                               as crm_synced_id,
        cast(null as {{ dbt.type_string() }})                               as email_matched_crm_id,
        ---------- strings
        'Crm'                                                               as source_system,
        crm_persons.person_type,
        crm_persons.crm_system                                              as crm_synced_system,
        crm_persons.person_type                                             as crm_synced_type,
        crm_persons.email,
        crm_persons.company,
        crm_persons.website,
        crm_persons.lead_source,
        crm_persons.bizible_stage,
        case
            when crm_persons.person_type = 'contact' and crm_persons.account_id is not null then 'crm_contact_account'
            when crm_persons.account_id is not null then 'converted_account'
            when crm_persons.person_type = 'lead' then account_matches.account_match_method
        end                                                                 as account_match_method,
        ---------- booleans
        crm_persons.is_converted,
        crm_persons.is_deleted,
        false                                                               as is_duplicate,
        false                                                               as is_email_duplicate,
        ---------- timestamps
        crm_persons.converted_date,
        crm_persons.created_date,
        crm_persons.modified_date
    from crm_persons
    left join crm_twins
        on crm_persons.crm_system = crm_twins.crm_system
        and crm_persons.person_type = crm_twins.person_type
        and crm_persons.person_id = crm_twins.crm_person_id
        and crm_twins.twin_rank = 1
    left join account_matches
        on account_matches.source_system = 'Crm'
        and crm_persons.person_id = account_matches.person_id
),

unioned as (
    select * from marketo
    union all
    select * from crm
)

select * from unioned
{{ unless_inputs_changed() }}
