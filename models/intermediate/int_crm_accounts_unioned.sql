{#- Every CRM account, one row per (crm_system, account_id): Salesforce and Dynamics under one set of names. -#}
with

salesforce_accounts as (
    select * from {{ ref('stg_salesforce__accounts') }}
),

dynamics_accounts as (
    select * from {{ ref('stg_dynamics__accounts') }}
),

unioned as (
    select
        ---------- ids
        account_id,
        ---------- strings
        'salesforce'        as crm_system,
        name,
        website,
        domain,
        ---------- booleans
        is_deleted,
        ---------- timestamps
        created_date,
        modified_date
    from salesforce_accounts

    union all

    select
        account_id,
        'dynamics'          as crm_system,
        name,
        website,
        domain,
        is_deleted,
        created_date,
        modified_date
    from dynamics_accounts
)

select * from unioned
{{ unless_inputs_changed() }}
