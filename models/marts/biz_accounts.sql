with

crm_accounts as (
    select * from {{ ref('int_crm_accounts_unioned') }}
),

final as (
    select
        ---------- ids
        account_id                  as id,
        ---------- strings
        name,
        website                     as web_site,
        domain,
        -- accounts only come from a CRM; the column keeps the Measure shape shared with the person marts
        'Crm'                       as source_system,
        crm_system,
        ---------- booleans
        is_deleted,
        ---------- timestamps
        created_date,
        modified_date
    from crm_accounts
)

select * from final
{{ unless_inputs_changed() }}
