with

persons as (
    select * from {{ ref('int_persons_unioned') }}
),

final as (
    select
        ---------- ids
        person_id                   as id,
        account_id,
        converted_contact_id,
        other_system_id,
        email_matched_crm_id,
        ---------- strings
        email,
        website                     as web_site,
        company,
        lead_source,
        bizible_stage,
        source_system,
        crm_synced_system           as crm_system,
        account_match_method,
        ---------- booleans
        is_converted,
        is_deleted,
        is_duplicate,
        is_email_duplicate,
        ---------- timestamps
        converted_date,
        created_date,
        modified_date
    from persons
    where person_type = 'lead'
)

select * from final
{{ unless_inputs_changed() }}
