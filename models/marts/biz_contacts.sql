with

persons as (
    select * from {{ ref('int_persons_unioned') }}
),

final as (
    select
        ---------- ids
        person_id                   as id,
        account_id,
        other_system_id,
        email_matched_crm_id,
        ---------- strings
        email,
        lead_source,
        bizible_stage,
        source_system,
        crm_synced_system           as crm_system,
        account_match_method,
        ---------- booleans
        is_deleted,
        is_duplicate,
        is_email_duplicate,
        ---------- timestamps
        created_date,
        modified_date
    from persons
    where person_type = 'contact'
)

select * from final
{{ unless_inputs_changed() }}
