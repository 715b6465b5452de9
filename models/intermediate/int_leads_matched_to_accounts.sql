{#-
    Lead-to-account (B8): one row per lead-like person (every Marketo person and every CRM lead) with the
    CRM account Measure's eight ordered methods give it, and the method that matched.

      rank  method                           person key       account key
      1     website_domain                   website domain   account website domain
      2     email_domain                     email domain     account website domain
      3     company_name                     company (norm.)  account name (norm.)
      4     company_to_website_domain        company          account website domain
      5     website_to_contact_email_domain  website domain   email domains of the account's contacts
      6     email_to_contact_email_domain    email domain     email domains of the account's contacts
      7     website_to_lead_email_domain     website domain   email domains of the account's converted leads
      8     email_to_lead_email_domain       email domain     email domains of the account's converted leads

    The first method that matches wins; within it the account with the most matches (for 5-8, the number of
    its contacts / converted leads on that domain), then the smallest account id. Deleted accounts, deleted
    contacts and leads, and free-mail domains (seed) never match. Domains are hosts (url_domain), so
    sub.acme.com does not match acme.com. A CRM lead only matches accounts of its own CRM; a Marketo person
    those of the CRM its sync names, or any CRM when it is not synced.
    Which persons use this account (leads, unsynced Marketo contacts) is decided in int_persons_unioned.
-#}
with

marketo_persons as (
    select * from {{ ref('int_marketo_persons_resolved') }}
),

crm_persons as (
    select * from {{ ref('int_crm_persons_unioned') }}
),

crm_accounts as (
    select * from {{ ref('int_crm_accounts_unioned') }}
),

free_mail_domains as (
    select * from {{ ref('free_mail_domains') }}
),

methods as (
    select 1 as method_rank, 'website_domain' as account_match_method,
        'website_domain' as person_key_kind, 'website_domain' as account_key_kind
    union all
    select 2, 'email_domain', 'email_domain', 'website_domain'
    union all
    select 3, 'company_name', 'company_name', 'account_name'
    union all
    select 4, 'company_to_website_domain', 'company_domain', 'website_domain'
    union all
    select 5, 'website_to_contact_email_domain', 'website_domain', 'contact_email_domain'
    union all
    select 6, 'email_to_contact_email_domain', 'email_domain', 'contact_email_domain'
    union all
    select 7, 'website_to_lead_email_domain', 'website_domain', 'lead_email_domain'
    union all
    select 8, 'email_to_lead_email_domain', 'email_domain', 'lead_email_domain'
),

candidates as (
    select
        'Marketo'               as source_system,
        person_id,
        crm_synced_system       as crm_system,
        email,
        website,
        company
    from marketo_persons

    union all

    select
        'Crm'                   as source_system,
        person_id,
        crm_system,
        email,
        website,
        company
    from crm_persons
    where person_type = 'lead'
),

candidate_keys_unfiltered as (
    select source_system, person_id, crm_system, 'website_domain' as key_kind, {{ url_domain('website') }} as key_value
    from candidates
    union all
    select source_system, person_id, crm_system, 'email_domain', {{ email_domain('email') }}
    from candidates
    union all
    select source_system, person_id, crm_system, 'company_name', {{ normalize_company('company') }}
    from candidates
    union all
    -- a company typed as a domain ("Acme.com", "www.acme.com")
    select source_system, person_id, crm_system, 'company_domain', {{ url_domain('company') }}
    from candidates
),

live_accounts as (
    select * from crm_accounts
    where not is_deleted
),

-- email domains of the live contacts / converted leads of each account, with how many persons carry them
account_person_domains as (
    select
        account_id,
        crm_system,
        case when person_type = 'contact' then 'contact_email_domain' else 'lead_email_domain' end  as key_kind,
        {{ email_domain('email') }}                                                                 as key_value,
        count(*)                                                                                    as n_matches
    from crm_persons
    where not is_deleted
        and account_id is not null
        and (person_type = 'contact' or is_converted)
    group by 1, 2, 3, 4
),

account_keys_unfiltered as (
    select account_id, crm_system, 'website_domain' as key_kind, domain as key_value, 1 as n_matches
    from live_accounts
    union all
    select account_id, crm_system, 'account_name', {{ normalize_company('name') }}, 1
    from live_accounts
    union all
    select
        account_person_domains.account_id,
        account_person_domains.crm_system,
        account_person_domains.key_kind,
        account_person_domains.key_value,
        account_person_domains.n_matches
    from account_person_domains
    inner join live_accounts
        on account_person_domains.account_id = live_accounts.account_id
        and account_person_domains.crm_system = live_accounts.crm_system
),

-- free-mail domains never match, from either side and whatever field they come from
candidate_keys as (
    select candidate_keys_unfiltered.*
    from candidate_keys_unfiltered
    left join free_mail_domains
        on candidate_keys_unfiltered.key_value = free_mail_domains.domain
    where candidate_keys_unfiltered.key_value is not null
        and free_mail_domains.domain is null
),

account_keys as (
    select account_keys_unfiltered.*
    from account_keys_unfiltered
    left join free_mail_domains
        on account_keys_unfiltered.key_value = free_mail_domains.domain
    where account_keys_unfiltered.key_value is not null
        and free_mail_domains.domain is null
),

matches as (
    select
        candidate_keys.source_system,
        candidate_keys.person_id,
        account_keys.account_id,
        methods.method_rank,
        methods.account_match_method,
        sum(account_keys.n_matches)                                         as n_matches
    from candidate_keys
    inner join methods
        on candidate_keys.key_kind = methods.person_key_kind
    inner join account_keys
        on methods.account_key_kind = account_keys.key_kind
        and candidate_keys.key_value = account_keys.key_value
        and (candidate_keys.crm_system is null or candidate_keys.crm_system = account_keys.crm_system)
    group by 1, 2, 3, 4, 5
),

ranked as (
    select
        matches.*,
        row_number() over (
            partition by source_system, person_id
            order by method_rank, n_matches desc, account_id
        )                                                                   as match_rank
    from matches
),

final as (
    select
        ---------- ids
        candidates.source_system,
        candidates.person_id,
        ranked.account_id,
        ---------- strings
        ranked.account_match_method,
        ---------- numerics
        ranked.method_rank                                                  as account_match_rank,
        ranked.n_matches                                                    as account_match_count
    from candidates
    left join ranked
        on candidates.source_system = ranked.source_system
        and candidates.person_id = ranked.person_id
        and ranked.match_rank = 1
)

select * from final
{{ unless_inputs_changed() }}
