{#-
    One row per Marketo person with what the rest of the project needs to know about it:
    which mart it belongs in, which CRM record the Marketo<->CRM sync names, and whether it was deleted.
-#}
with

leads as (
    select * from {{ ref('stg_marketo__leads') }}
),

company_fields as (
    select * from {{ ref('stg_marketo__lead_company_fields') }}
),

deleted_persons as (
    select * from {{ ref('int_marketo_persons_deleted') }}
),

resolved as (
    select
        ---------- ids
        leads.lead_id                                                        as person_id,
        -- the CRM id that matters is the one the sync type selects; with no type, the lead id, then the contact id
        case
            when lower(leads.sfdc_type) = 'contact' then leads.sfdc_contact_id
            when lower(leads.sfdc_type) = 'lead' then leads.sfdc_lead_id
            when coalesce(leads.sfdc_lead_id, leads.sfdc_contact_id) is not null
                then coalesce(leads.sfdc_lead_id, leads.sfdc_contact_id)
            -- Dataverse GUIDs are compared lower-cased (staging lower-cases the CRM side)
            when lower(leads.msft_type) = 'contact' then lower(leads.msft_contact_id)
            when lower(leads.msft_type) = 'lead' then lower(leads.msft_lead_id)
            else lower(coalesce(leads.msft_lead_id, leads.msft_contact_id))
        end                                                                  as crm_synced_id,
        case
            when coalesce(leads.sfdc_lead_id, leads.sfdc_contact_id) is not null then leads.sfdc_account_id
            when coalesce(leads.msft_lead_id, leads.msft_contact_id) is not null then lower(leads.msft_account_id)
            else coalesce(leads.sfdc_account_id, lower(leads.msft_account_id))
        end                                                                  as crm_synced_account_id,
        ---------- strings
        case
            when lower(coalesce(leads.sfdc_type, leads.msft_type)) = 'contact' then 'contact'
            else 'lead'
        end                                                                  as person_type,
        case
            when coalesce(leads.sfdc_lead_id, leads.sfdc_contact_id) is not null then 'salesforce'
            when coalesce(leads.msft_lead_id, leads.msft_contact_id) is not null then 'dynamics'
        end                                                                  as crm_synced_system,
        case
            when lower(leads.sfdc_type) = 'contact' then 'contact'
            when lower(leads.sfdc_type) = 'lead' then 'lead'
            when leads.sfdc_lead_id is not null then 'lead'
            when leads.sfdc_contact_id is not null then 'contact'
            when lower(leads.msft_type) = 'contact' then 'contact'
            when lower(leads.msft_type) = 'lead' then 'lead'
            when leads.msft_lead_id is not null then 'lead'
            when leads.msft_contact_id is not null then 'contact'
        end                                                                  as crm_synced_type,
        leads.email,
        -- B9: company fields change without bumping updatedAt; the most recent read wins
        case
            when company_fields.read_at > leads.read_at then company_fields.company
            else leads.company
        end                                                                  as company,
        case
            when company_fields.read_at > leads.read_at then company_fields.website
            else leads.website
        end                                                                  as website,
        leads.lead_source,
        leads.lead_status                                                    as bizible_stage,
        ---------- booleans
        deleted_persons.lead_id is not null                                  as is_deleted,
        ---------- timestamps
        leads.created_at                                                     as created_date,
        leads.updated_at                                                     as modified_date,
        deleted_persons.deleted_at
    from leads
    left join company_fields
        on leads.lead_id = company_fields.lead_id
    left join deleted_persons
        on leads.lead_id = deleted_persons.lead_id
)

select * from resolved
{{ unless_inputs_changed() }}
