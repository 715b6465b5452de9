{#-
    Which emails belong to which account (Measure's BIZ_ACCOUNT_TO_EMAILS), one row per (account_id, email):
    every person with an email and an account in biz_accounts — CRM contacts, converted leads, and leads
    (Marketo or CRM) placed by lead-to-account. Account-based reporting joins touchpoints to accounts here.
-#}
with

persons as (
    select * from {{ ref('int_persons_unioned') }}
),

accounts as (
    select * from {{ ref('biz_accounts') }}
),

account_emails as (
    select
        persons.account_id,
        persons.email,
        count(*)                                                            as n_persons,
        -- the pair is deleted only when every person carrying it is
        min(case when persons.is_deleted then 1 else 0 end)                 as all_persons_deleted,
        min(persons.created_date)                                           as created_date,
        max(persons.modified_date)                                          as modified_date
    from persons
    where persons.email is not null
        and persons.account_id is not null
    group by 1, 2
),

final as (
    select
        ---------- ids
        {{ dbt.hash(dbt.concat(['account_emails.account_id', "'|'", 'account_emails.email'])) }}   as id,
        account_emails.account_id,
        ---------- strings
        account_emails.email,
        {{ email_domain('account_emails.email') }}                          as email_domain,
        ---------- numerics
        account_emails.n_persons,
        ---------- booleans
        account_emails.all_persons_deleted = 1 or accounts.is_deleted       as is_deleted,
        ---------- timestamps
        account_emails.created_date,
        account_emails.modified_date
    from account_emails
    inner join accounts
        on account_emails.account_id = accounts.id
)

select * from final
{{ unless_inputs_changed() }}
