-- The dbt project's rules hand-written as one plain DuckDB SQL script: the reference the bench measures
-- `dbt build` against (issue 6: "within 1.5x of the same rules hand-written as one plain SQL script").
--
-- Reads the raw tables through the typed views plain.src_* that bench/plain.py creates first (the loaders'
-- columns cast to their types, timestamps as UTC timestamp_ntz; a table or column the loaders never created
-- reads as empty / null, as dbt's source_columns macro does). Reads the search-engine and social-network
-- seeds dbt loaded (main_seeds.*); the channel rules, segment rules and free-mail domains are the shipped
-- defaults, written inline. Default vars: 30-minute timeout, 5-minute lead-creation tolerance, U-shape
-- 50/50, email duplicate matching off, reporting in UTC without duplicates or deleted persons.
-- Writes every mart into schema `plain`, under the dbt mart names. No incremental logic, no tests.

create schema if not exists plain;

create or replace temp macro norm_email(e) as
    case when e is not null and position('@' in trim(e)) > 1 then lower(trim(e)) end;

create or replace temp macro url_domain(u) as
    nullif(regexp_replace(regexp_replace(regexp_replace(lower(trim(u)), '^[a-z][a-z0-9+.-]*://', ''),
        '^[^/?#]*@|[:/?#].*$', '', 'g'), '^www\.', ''), '');

create or replace temp macro email_domain(e) as
    case when position('@' in e) > 0 then nullif(lower(trim(regexp_replace(e, '^.*@', ''))), '') end;

create or replace temp macro norm_company(c) as nullif(regexp_replace(lower(trim(c)), '\s+', ' ', 'g'), '');

create or replace temp macro url_without_query(u) as nullif(string_split(string_split(u, '#')[1], '?')[1], '');

create or replace temp macro utm(u, name) as nullif(regexp_extract(u, '[?&]' || name || '=([^&#]*)', 1), '');

-- a Salesforce id in its 18-character form: a 15-character id gets its three case-checksum characters
create or replace temp macro sf_id_chunk(i, k) as
    substr('ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', 1 + list_sum([
        case when substr(i, k * 5 + b + 1, 1) <> lower(substr(i, k * 5 + b + 1, 1)) then 2 ** b else 0 end
        for b in range(5)])::int, 1);
create or replace temp macro sf_id(i) as
    case when length(i) = 15 then i || sf_id_chunk(i, 0) || sf_id_chunk(i, 1) || sf_id_chunk(i, 2) else i end;

create or replace temp table free_mail_domains as
select unnest([
    'gmail.com', 'googlemail.com', 'yahoo.com', 'yahoo.co.uk', 'yahoo.fr', 'ymail.com', 'rocketmail.com',
    'hotmail.com', 'hotmail.co.uk', 'hotmail.fr', 'live.com', 'msn.com', 'outlook.com', 'aol.com', 'icloud.com',
    'me.com', 'mac.com', 'gmx.com', 'gmx.de', 'gmx.net', 'web.de', 'mail.com', 'protonmail.com', 'proton.me',
    'pm.me', 'zoho.com', 'yandex.com', 'yandex.ru', 'mail.ru', 'qq.com', '163.com', '126.com', 'naver.com',
    'orange.fr', 'free.fr', 'laposte.net', 'wanadoo.fr', 'sfr.fr', 't-online.de', 'libero.it', 'comcast.net',
    'verizon.net', 'att.net', 'sbcglobal.net', 'hey.com', 'fastmail.com', 'tutanota.com'
]) as domain;

---------------------------------------------------------------- persons

-- Marketo persons: field mapping, the CRM record the sync names, company fields re-read (B9), deletes (B12)
create or replace temp table marketo_persons as
with leads as (
    select
        cast(id as varchar) as lead_id,
        sf_id(nullif(trim(sfdc_lead_id), '')) as sfdc_lead_id,
        sf_id(nullif(trim(sfdc_contact_id), '')) as sfdc_contact_id,
        sf_id(nullif(trim(sfdc_account_id), '')) as sfdc_account_id,
        nullif(trim(msft_lead_id), '') as msft_lead_id,
        nullif(trim(msft_contact_id), '') as msft_contact_id,
        nullif(trim(msft_account_id), '') as msft_account_id,
        lower(nullif(trim(sfdc_type), '')) as sfdc_type,
        lower(nullif(trim(msft_type), '')) as msft_type,
        norm_email(email) as email,
        nullif(trim(company), '') as company,
        nullif(trim(website), '') as website,
        lead_status,
        lead_source,
        created_at,
        updated_at,
        _read_at
    from plain.src_marketo_leads
),
-- gone from Marketo: a delete activity, or not read by a complete export of the person's createdAt range
last_reads as (
    select lead_id, max(read_at) as read_at from (
        select lead_id, _read_at as read_at from leads
        union all select cast(id as varchar), _read_at from plain.src_marketo_lead_company_fields
        union all select nullif(trim(id), ''), _read_at from plain.src_marketo_leads_rejected
    ) group by 1
),
deletes as (
    select cast(lead_id as varchar) as lead_id from plain.src_marketo_deleted_leads
    union
    select l.lead_id
    from leads l
    join plain.src_marketo_complete_exports e on l.created_at between e.created_from and e.created_to
    left join last_reads r on l.lead_id = r.lead_id
    where r.read_at is null or r.read_at < e.read_from
)
select
    l.lead_id as person_id,
    case
        when l.sfdc_type = 'contact' then l.sfdc_contact_id
        when l.sfdc_type = 'lead' then l.sfdc_lead_id
        when coalesce(l.sfdc_lead_id, l.sfdc_contact_id) is not null then coalesce(l.sfdc_lead_id, l.sfdc_contact_id)
        when l.msft_type = 'contact' then lower(l.msft_contact_id)
        when l.msft_type = 'lead' then lower(l.msft_lead_id)
        else lower(coalesce(l.msft_lead_id, l.msft_contact_id))
    end as crm_synced_id,
    case
        when coalesce(l.sfdc_lead_id, l.sfdc_contact_id) is not null then l.sfdc_account_id
        when coalesce(l.msft_lead_id, l.msft_contact_id) is not null then lower(l.msft_account_id)
        else coalesce(l.sfdc_account_id, lower(l.msft_account_id))
    end as crm_synced_account_id,
    case when coalesce(l.sfdc_type, l.msft_type) = 'contact' then 'contact' else 'lead' end as person_type,
    case
        when coalesce(l.sfdc_lead_id, l.sfdc_contact_id) is not null then 'salesforce'
        when coalesce(l.msft_lead_id, l.msft_contact_id) is not null then 'dynamics'
    end as crm_synced_system,
    case
        when l.sfdc_type in ('contact', 'lead') then l.sfdc_type
        when l.sfdc_lead_id is not null then 'lead'
        when l.sfdc_contact_id is not null then 'contact'
        when l.msft_type in ('contact', 'lead') then l.msft_type
        when l.msft_lead_id is not null then 'lead'
        when l.msft_contact_id is not null then 'contact'
    end as crm_synced_type,
    l.email,
    case when cf._read_at > l._read_at then nullif(trim(cf.company), '') else l.company end as company,
    case when cf._read_at > l._read_at then nullif(trim(cf.website), '') else l.website end as website,
    l.lead_source,
    l.lead_status as bizible_stage,
    d.lead_id is not null as is_deleted,
    l.created_at as created_date,
    l.updated_at as modified_date
from leads l
left join plain.src_marketo_lead_company_fields cf on l.lead_id = cast(cf.id as varchar)
left join deletes d on l.lead_id = d.lead_id;

-- CRM persons: Salesforce and Dynamics leads and contacts; a converted lead and its contact are two persons
create or replace temp table crm_persons as
select
    sf_id(id) as person_id, sf_id(nullif(trim(converted_account_id), '')) as account_id,
    sf_id(nullif(trim(converted_contact_id), '')) as converted_contact_id, 'salesforce' as crm_system,
    'lead' as person_type,
    norm_email(email) as email, nullif(trim(company), '') as company, nullif(trim(website), '') as website,
    lead_source, status as bizible_stage, coalesce(is_converted, false) as is_converted,
    coalesce(is_deleted, false) as is_deleted, converted_date, created_date, last_modified_date as modified_date
from plain.src_salesforce_lead
union all
select
    sf_id(id), sf_id(nullif(trim(account_id), '')), null, 'salesforce', 'contact', norm_email(email), null, null,
    lead_source,
    null, false, coalesce(is_deleted, false), null, created_date, last_modified_date
from plain.src_salesforce_contact
union all
select
    lower(trim(leadid)),
    case when coalesce(statecode = '1', false) or nullif(trim(_parentcontactid_value), '') is not null
        then lower(nullif(trim(_parentaccountid_value), '')) end,
    case when coalesce(statecode = '1', false) or nullif(trim(_parentcontactid_value), '') is not null
        then lower(nullif(trim(_parentcontactid_value), '')) end,
    'dynamics', 'lead', norm_email(emailaddress1), nullif(trim(companyname), ''), nullif(trim(websiteurl), ''),
    case leadsourcecode
        when '1' then 'Advertisement' when '2' then 'Employee Referral' when '3' then 'External Referral'
        when '4' then 'Partner' when '5' then 'Public Relations' when '6' then 'Seminar' when '7' then 'Trade Show'
        when '8' then 'Web' when '9' then 'Word of Mouth' when '10' then 'Other' else leadsourcecode
    end,
    case statuscode
        when '1' then 'New' when '2' then 'Contacted' when '3' then 'Qualified' when '4' then 'Lost'
        when '5' then 'Cannot Contact' when '6' then 'No Longer Interested' when '7' then 'Canceled' else statuscode
    end,
    coalesce(statecode = '1', false) or nullif(trim(_parentcontactid_value), '') is not null,
    coalesce(is_deleted, false), null, createdon, modifiedon
from plain.src_dynamics_leads
union all
select
    lower(trim(contactid)), lower(nullif(trim(_parentcustomerid_value), '')), null, 'dynamics', 'contact',
    norm_email(emailaddress1), null, null, leadsourcecode, null, false, coalesce(is_deleted, false), null,
    createdon, modifiedon
from plain.src_dynamics_contacts;

create or replace temp table crm_accounts as
select sf_id(id) as account_id, 'salesforce' as crm_system, nullif(trim(name), '') as name,
    nullif(trim(website), '') as website, url_domain(website) as domain, coalesce(is_deleted, false) as is_deleted,
    created_date, last_modified_date as modified_date
from plain.src_salesforce_account
union all
select lower(trim(accountid)), 'dynamics', nullif(trim(name), ''), nullif(trim(websiteurl), ''),
    url_domain(websiteurl), coalesce(is_deleted, false), createdon, modifiedon
from plain.src_dynamics_accounts;

-- Duplicates (B5): the Marketo person's synced CRM record is loaded
create or replace temp table crm_matches as
select
    m.person_id, m.crm_synced_id, m.crm_synced_system, m.crm_synced_type, m.modified_date,
    c.person_id as crm_person_id, c.account_id as crm_account_id,
    c.person_id is not null as is_duplicate,
    case
        when m.crm_synced_id is null or c.person_id is not null then null
        when m.crm_synced_system not in (select crm_system from crm_persons) then 'crm_not_loaded'
        else 'record_absent'
    end as dangling_reason
from marketo_persons m
left join crm_persons c
    on m.crm_synced_system = c.crm_system and m.crm_synced_type = c.person_type and m.crm_synced_id = c.person_id;

-- Lead-to-account (B8): Measure's eight ordered methods; most matches, then smallest id, within a method
create or replace temp table account_matches as
with candidates as (
    select 'Marketo' as source_system, person_id, crm_synced_system as crm_system, email, website, company
    from marketo_persons
    union all
    select 'Crm', person_id, crm_system, email, website, company from crm_persons where person_type = 'lead'
),
candidate_keys as (
    select * from (
        select source_system, person_id, crm_system, 'website_domain' as kind, url_domain(website) as k from candidates
        union all
        select source_system, person_id, crm_system, 'email_domain', email_domain(email) from candidates
        union all
        select source_system, person_id, crm_system, 'company_name', norm_company(company) from candidates
        union all
        select source_system, person_id, crm_system, 'company_domain', url_domain(company) from candidates
    )
    where k is not null and k not in (select domain from free_mail_domains)
),
live_accounts as (select * from crm_accounts where not is_deleted),
account_keys as (
    select * from (
        select account_id, crm_system, 'website_domain' as kind, domain as k, 1 as n from live_accounts
        union all
        select account_id, crm_system, 'account_name', norm_company(name), 1 from live_accounts
        union all
        select p.account_id, p.crm_system,
            case when p.person_type = 'contact' then 'contact_email_domain' else 'lead_email_domain' end,
            email_domain(p.email), count(*)
        from crm_persons p
        join live_accounts a on p.account_id = a.account_id and p.crm_system = a.crm_system
        where not p.is_deleted and (p.person_type = 'contact' or p.is_converted)
        group by all
    )
    where k is not null and k not in (select domain from free_mail_domains)
),
methods(method_rank, method, person_kind, account_kind) as (
    values
        (1, 'website_domain', 'website_domain', 'website_domain'),
        (2, 'email_domain', 'email_domain', 'website_domain'),
        (3, 'company_name', 'company_name', 'account_name'),
        (4, 'company_to_website_domain', 'company_domain', 'website_domain'),
        (5, 'website_to_contact_email_domain', 'website_domain', 'contact_email_domain'),
        (6, 'email_to_contact_email_domain', 'email_domain', 'contact_email_domain'),
        (7, 'website_to_lead_email_domain', 'website_domain', 'lead_email_domain'),
        (8, 'email_to_lead_email_domain', 'email_domain', 'lead_email_domain')
),
matches as (
    select c.source_system, c.person_id, a.account_id, m.method_rank, m.method, sum(a.n) as n
    from candidate_keys c
    join methods m on c.kind = m.person_kind
    join account_keys a
        on a.kind = m.account_kind and a.k = c.k and (c.crm_system is null or c.crm_system = a.crm_system)
    group by all
)
select source_system, person_id, account_id, method as account_match_method
from matches
qualify row_number() over (partition by source_system, person_id order by method_rank, n desc, account_id) = 1;

-- Every person: Marketo and CRM, with duplicates, the CRM side's twin and accounts
create or replace temp table persons as
select
    m.person_id,
    case
        when m.person_type = 'contact' then coalesce(cm.crm_account_id, m.crm_synced_account_id, am.account_id)
        else am.account_id
    end as account_id,
    cast(null as varchar) as converted_contact_id,
    case when cm.is_duplicate then m.crm_synced_id end as other_system_id,
    cast(null as varchar) as email_matched_crm_id,
    'Marketo' as source_system, m.person_type, m.crm_synced_system, m.email, m.company, m.website,
    m.lead_source, m.bizible_stage,
    case
        when m.person_type = 'contact' and cm.crm_account_id is not null then 'synced_contact_account'
        when m.person_type = 'contact' and m.crm_synced_account_id is not null then 'synced_account_id'
        else am.account_match_method
    end as account_match_method,
    false as is_converted, m.is_deleted, cm.is_duplicate, false as is_email_duplicate,
    cast(null as timestamp) as converted_date, m.created_date, m.modified_date
from marketo_persons m
join crm_matches cm on m.person_id = cm.person_id
left join account_matches am on am.source_system = 'Marketo' and am.person_id = m.person_id
union all
select
    c.person_id,
    case when c.person_type = 'contact' then c.account_id else coalesce(c.account_id, am.account_id) end,
    c.converted_contact_id,
    twin.person_id,
    null,
    'Crm', c.person_type, c.crm_system, c.email, c.company, c.website, c.lead_source, c.bizible_stage,
    case
        when c.person_type = 'contact' and c.account_id is not null then 'crm_contact_account'
        when c.account_id is not null then 'converted_account'
        when c.person_type = 'lead' then am.account_match_method
    end,
    c.is_converted, c.is_deleted, false, false, c.converted_date, c.created_date, c.modified_date
from crm_persons c
left join (
    -- the Marketo person a CRM record names: the most recently updated of those synced to it
    select crm_synced_system, crm_synced_type, crm_synced_id, person_id
    from crm_matches
    where is_duplicate
    qualify row_number() over (
        partition by crm_synced_system, crm_synced_type, crm_synced_id order by modified_date desc, person_id) = 1
) twin on c.crm_system = twin.crm_synced_system and c.person_type = twin.crm_synced_type
    and c.person_id = twin.crm_synced_id
left join account_matches am on am.source_system = 'Crm' and am.person_id = c.person_id;

create or replace table plain.biz_leads as
select person_id as id, account_id, converted_contact_id, other_system_id, email_matched_crm_id, email,
    website as web_site, company, lead_source, bizible_stage, source_system, crm_synced_system as crm_system,
    account_match_method, is_converted, is_deleted, is_duplicate, is_email_duplicate, converted_date,
    created_date, modified_date
from persons where person_type = 'lead';

create or replace table plain.biz_contacts as
select person_id as id, account_id, other_system_id, email_matched_crm_id, email, lead_source, bizible_stage,
    source_system, crm_synced_system as crm_system, account_match_method, is_deleted, is_duplicate,
    is_email_duplicate, created_date, modified_date
from persons where person_type = 'contact';

create or replace table plain.dq_marketo_dangling_crm_ids as
select cm.person_id, cm.crm_synced_id, cm.crm_synced_system, cm.crm_synced_type, cm.dangling_reason, m.email,
    m.person_type, m.is_deleted, m.modified_date
from crm_matches cm join marketo_persons m on cm.person_id = m.person_id
where cm.crm_synced_id is not null and cm.crm_person_id is null;

create or replace table plain.biz_accounts as
select account_id as id, name, website as web_site, domain, 'Crm' as source_system, crm_system, is_deleted,
    created_date, modified_date
from crm_accounts;

create or replace table plain.biz_account_to_emails as
select md5(p.account_id || '|' || p.email) as id, p.account_id, p.email, email_domain(p.email) as email_domain,
    p.n_persons, p.all_deleted or a.is_deleted as is_deleted, p.created_date, p.modified_date
from (
    select account_id, email, count(*) as n_persons, bool_and(is_deleted) as all_deleted,
        min(created_date) as created_date, max(modified_date) as modified_date
    from persons
    where email is not null and account_id is not null
    group by all
) p
join plain.biz_accounts a on p.account_id = a.id;

-- Segments (B6), the shipped rules: category1 = Source
create or replace temp table segments as
select source_system, person_id,
    case lower(source_system) when 'marketo' then 'Marketo' when 'crm' then 'CRM' end as category1
from persons;

create or replace table plain.biz_segment_names as
select md5(category || '|' || segment_name) as id, category, 'category1' as category_column, segment_name, priority,
    true as is_active
from (values ('Source', 'Marketo', 1), ('Source', 'CRM', 2)) as t(category, segment_name, priority);

---------------------------------------------------------------- web

-- Sessionization: a cookie's events in time order (same instant: page view first, then id); a new session
-- after a gap over 30 minutes, or on a page view arriving from another host or with UTM tags
create or replace temp table events as
with raw_events as (
    select 'page_view' as event_type, 0 as type_rank, id as event_id, cookie_id, current_page_raw,
        referrer_page_raw, page_title, null as email, null as email_raw, null as form_identifier, ip_address,
        user_agent_string, _dlt_load_id, event_date
    from plain.src_web_page_views
    union all
    select 'form_submit', 1, id, cookie_id, current_page_raw, null, null, norm_email(email), email,
        form_identifier, ip_address, user_agent_string, _dlt_load_id, event_date
    from plain.src_web_form_submits
),
flagged as (
    select
        *,
        coalesce(url_domain(referrer_page_raw) <> coalesce(url_domain(current_page_raw), ''), false)
            as has_external_referrer,
        coalesce(position('?utm_' in lower(current_page_raw)) > 0 or position('&utm_' in lower(current_page_raw)) > 0,
            false) as has_utm,
        lag(event_date) over (partition by cookie_id order by event_date, type_rank, event_id) as previous_date
    from raw_events
    where cookie_id is not null and event_id is not null and event_date is not null
        and (_dlt_load_id is null or _dlt_load_id in (select load_id from plain.src_web__dlt_loads where status = 0))
),
starts as (
    select
        *,
        previous_date is null
            or event_date > previous_date + interval 30 minute
            or (event_type = 'page_view' and (has_external_referrer or has_utm)) as is_session_start
    from flagged
),
numbered as (
    select
        *,
        sum(is_session_start::int) over w as session_number,
        last_value(case when is_session_start then event_type || ':' || event_id end ignore nulls) over w
            as first_event_key,
        last_value(case when is_session_start then event_date end ignore nulls) over w as session_started_at
    from starts
    window w as (partition by cookie_id order by event_date, type_rank, event_id
        rows between unbounded preceding and current row)
)
select * exclude (first_event_key, previous_date), md5(cookie_id || '|' || first_event_key) as session_id
from numbered;

create or replace table plain.biz_page_views as
select event_id as id, session_id, cookie_id as visitor_id, cookie_id, current_page_raw,
    url_without_query(current_page_raw) as current_page, referrer_page_raw, page_title, ip_address,
    user_agent_string, _dlt_load_id, event_date
from events where event_type = 'page_view';

create or replace table plain.biz_form_submits as
select event_id as id, session_id, cookie_id as visitor_id, cookie_id, email, email_raw, form_identifier,
    current_page_raw, url_without_query(current_page_raw) as current_page, ip_address, user_agent_string,
    _dlt_load_id, event_date
from events where event_type = 'form_submit';

-- Sessions: landing page, referrer and UTM fields of the first event; channel by the shipped channel rules
create or replace table plain.biz_sessions as
with known_domains as (
    select domain, name, lower(utm_source) as utm_source, 'search_engine' as domain_class
    from main_seeds.search_engine_domains
    union all
    select domain, name, lower(utm_source), 'social_network' from main_seeds.social_network_domains
),
stats as (
    select session_id, count(*) filter (event_type = 'page_view') as page_view_count,
        count(*) filter (event_type = 'form_submit') as form_submit_count, max(event_date) as session_end
    from events group by session_id
),
firsts as (
    select
        session_id, cookie_id, session_number, has_utm, session_started_at, current_page_raw as landing_page_raw,
        page_title as landing_page_title,
        case when has_external_referrer then referrer_page_raw end as referrer_page_raw,
        case when has_external_referrer then url_domain(referrer_page_raw) end as referrer_domain,
        utm(current_page_raw, 'utm_source') as web_source,
        utm(current_page_raw, 'utm_medium') as medium,
        utm(current_page_raw, 'utm_campaign') as campaign,
        utm(current_page_raw, 'utm_term') as term,
        utm(current_page_raw, 'utm_content') as content
    from events where is_session_start
),
referrers as (
    -- the referrer's domain or a subdomain of a known engine / network; the longest known domain wins
    select r.referrer_domain, k.domain_class, k.name
    from (select distinct referrer_domain from firsts where referrer_domain is not null) r
    join known_domains k on r.referrer_domain = k.domain or r.referrer_domain like '%.' || k.domain
    qualify row_number() over (partition by r.referrer_domain order by length(k.domain) desc, k.domain) = 1
),
sources as (
    select s.source_key, k.domain_class, k.name
    from (select distinct lower(trim(web_source)) as source_key from firsts where web_source is not null) s
    join known_domains k on s.source_key in (k.utm_source, lower(k.name), k.domain)
    qualify row_number() over (partition by s.source_key order by k.domain_class, k.domain) = 1
),
classified as (
    select
        f.*,
        lower(trim(f.medium)) as medium_key,
        src.domain_class as source_class,
        coalesce(src.name, f.web_source) as source_name,
        case when f.referrer_domain is null then 'none' else coalesce(ref.domain_class, 'other') end as referrer_class,
        ref.name as referrer_name
    from firsts f
    left join referrers ref on f.referrer_domain = ref.referrer_domain
    left join sources src on lower(trim(f.web_source)) = src.source_key
),
channeled as (
    select
        *,
        case
            when medium_key = 'paidsearch' or (medium_key in ('cpc', 'ppc') and source_class = 'search_engine')
                then 'Paid Search'
            when medium_key in ('paid_social', 'paid-social', 'paidsocial')
                or (medium_key in ('cpc', 'ppc') and source_class = 'social_network') then 'Paid Social'
            when medium_key in ('email', 'e-mail') then 'Email'
            when medium_key in ('display', 'banner', 'cpm') then 'Display'
            when referrer_class = 'search_engine' then 'Organic Search'
            when referrer_class = 'social_network' then 'Social'
            when referrer_class = 'other' then 'Web Referral'
            when referrer_class = 'none' and not has_utm then 'Direct'
            else 'Other'
        end as channel
    from classified
)
select
    c.session_id as id, c.cookie_id as visitor_id, c.cookie_id, c.channel,
    case
        when c.channel in ('Paid Search', 'Paid Social') then c.source_name
        when c.channel in ('Email', 'Display') then c.web_source
        when c.channel = 'Other' and c.has_utm then c.web_source
        when c.channel in ('Organic Search', 'Social') then c.referrer_name
        when c.channel = 'Web Referral' then c.referrer_domain
    end as subchannel,
    url_without_query(c.landing_page_raw) as landing_page, c.landing_page_raw, c.landing_page_title,
    url_without_query(c.referrer_page_raw) as referrer_page, c.referrer_page_raw, c.referrer_domain,
    c.web_source, c.medium, c.campaign, c.term, c.content, c.session_number, s.page_view_count,
    s.form_submit_count, c.session_number = 1 as is_first_session, s.form_submit_count > 0 as has_form,
    c.session_started_at as event_date, s.session_end
from channeled c
join stats s on c.session_id = s.session_id;

create or replace table plain.biz_email_to_visitor_ids as
select md5(email || '|' || cookie_id) as id, email, cookie_id as visitor_id, false as is_deleted,
    min(event_date) as created_date, max(event_date) as modified_date
from events
where event_type = 'form_submit' and email is not null
group by email, cookie_id;

---------------------------------------------------------------- touchpoints

-- An email's touchpoints: the first session of any cookie its forms link (B3), and every session in which
-- it submitted a form (its first form there gives form page and date)
create or replace temp table email_touchpoints as
with sessions as (
    select session_id, cookie_id, session_started_at from events where is_session_start
),
first_sessions as (
    select l.email, arg_min(s.session_id, (s.session_started_at, s.session_id)) as session_id
    from (select distinct email, visitor_id from plain.biz_email_to_visitor_ids) l
    join sessions s on l.visitor_id = s.cookie_id
    group by l.email
),
forms as (
    select email, session_id, arg_min(current_page_raw, (event_date, event_id)) as form_page_raw,
        min(event_date) as form_date
    from events
    where event_type = 'form_submit' and email is not null
    group by email, session_id
)
select
    coalesce(f.email, fs.email) as email, s.session_id, s.cookie_id as visitor_id,
    case when f.session_id is not null then 'Web Form' else 'Web Visit' end as marketing_touch_type,
    f.form_page_raw, url_without_query(f.form_page_raw) as form_page,
    f.session_id is not null as is_form_submission_touch,
    coalesce(f.form_date, s.session_started_at) as touchpoint_date, f.form_date, s.session_started_at
from forms f
full join first_sessions fs on f.email = fs.email and f.session_id = fs.session_id
join sessions s on s.session_id = coalesce(f.session_id, fs.session_id);

-- Per person (B4): first touch, lead-creation touch (latest at or before created_date + 5 minutes), weights
create or replace temp table person_touchpoints as
with joined as (
    select
        p.source_system, p.person_id, p.person_type, p.account_id, p.is_deleted, p.is_duplicate,
        p.created_date as person_created_date, t.*,
        coalesce(t.touchpoint_date <= p.created_date + interval 5 minute, false) as is_before_lead_creation
    from persons p
    join email_touchpoints t on p.email = t.email
),
keyed as (
    select
        *,
        {'d': touchpoint_date, 's': session_started_at, 'id': session_id} as touch_key,
        min({'d': touchpoint_date, 's': session_started_at, 'id': session_id}) over person as first_key,
        max({'d': touchpoint_date, 's': session_started_at, 'id': session_id}) filter (is_before_lead_creation)
            over person as lead_creation_key
    from joined
    window person as (partition by source_system, person_id)
)
select
    * exclude (touch_key, first_key, lead_creation_key),
    touch_key = first_key as is_first_touch,
    coalesce(touch_key = lead_creation_key, false) as is_lead_creation_touch,
    lead_creation_key is not null as has_lead_creation_touch
from keyed;

create or replace table plain.biz_touchpoints as
select
    md5(t.source_system || '|' || t.person_id || '|' || t.session_id) as id, t.person_id,
    case when t.person_type = 'lead' then t.person_id end as lead_id,
    case when t.person_type = 'contact' then t.person_id end as contact_id,
    t.account_id, t.visitor_id, t.session_id, t.email, t.marketing_touch_type, s.channel, s.subchannel,
    s.landing_page, s.landing_page_raw, s.referrer_page, s.referrer_page_raw, t.form_page, t.form_page_raw,
    s.medium, s.web_source, s.campaign, s.term, s.content, t.source_system,
    g.category1, null::varchar as category2, null::varchar as category3, null::varchar as category4,
    null::varchar as category5, null::varchar as category6, null::varchar as category7,
    null::varchar as category8, null::varchar as category9, null::varchar as category10,
    null::varchar as category11, null::varchar as category12, null::varchar as category13,
    null::varchar as category14, null::varchar as category15,
    cast(case when t.is_first_touch then 100 else 0 end as numeric(28, 6)) as first_click_percentage,
    cast(case when t.is_lead_creation_touch then 100 else 0 end as numeric(28, 6)) as last_anon_click_percentage,
    cast(case
        when t.is_first_touch and (t.is_lead_creation_touch or not t.has_lead_creation_touch) then 100
        when t.is_first_touch then 50
        when t.is_lead_creation_touch then 50
        else 0
    end as numeric(28, 6)) as u_shape_percentage,
    t.is_first_touch, t.is_lead_creation_touch, t.is_form_submission_touch, t.is_deleted, t.is_duplicate,
    t.touchpoint_date, t.form_date, t.person_created_date
from person_touchpoints t
join plain.biz_sessions s on t.session_id = s.id
left join segments g on t.source_system = g.source_system and t.person_id = g.person_id;

---------------------------------------------------------------- channels and reports

create or replace table plain.biz_channels as
select lower(replace(name, ' ', '_')) as id, name, priority, rule_count, false as is_deleted
from (values ('Paid Search', 10, 3), ('Paid Social', 20, 5), ('Email', 30, 2), ('Display', 40, 3),
    ('Organic Search', 50, 1), ('Social', 60, 1), ('Web Referral', 70, 1), ('Direct', 80, 1), ('Other', 90, 1))
    as t(name, priority, rule_count);

create or replace table plain.rpt_touchpoints_by_month_channel_segment as
select
    cast(date_trunc('month', touchpoint_date) as date) as touchpoint_month, channel, subchannel, campaign,
    source_system,
    category1, category2, category3, category4, category5, category6, category7, category8, category9, category10,
    category11, category12, category13, category14, category15,
    count(*) as touchpoint_count,
    count(distinct person_id) as people_touched,
    cast(count(*) as numeric(28, 6)) / count(distinct person_id) as touchpoints_per_person,
    count(*) filter (is_first_touch) as first_touch_count,
    count(*) filter (is_lead_creation_touch) as lead_creation_touch_count,
    sum(first_click_percentage) / 100.0 as first_touch_credit,
    sum(last_anon_click_percentage) / 100.0 as lead_creation_credit,
    sum(u_shape_percentage) / 100.0 as u_shape_credit
from plain.biz_touchpoints
where not is_duplicate and not is_deleted
group by all;

create or replace table plain.rpt_new_persons_by_month_source_channel as
select
    cast(date_trunc('month', p.created_date) as date) as created_month, p.source_system,
    coalesce(ft.channel, 'No touchpoint') as first_touch_channel,
    g.category1, null::varchar as category2, null::varchar as category3, null::varchar as category4,
    null::varchar as category5, null::varchar as category6, null::varchar as category7,
    null::varchar as category8, null::varchar as category9, null::varchar as category10,
    null::varchar as category11, null::varchar as category12, null::varchar as category13,
    null::varchar as category14, null::varchar as category15,
    count(*) filter (p.person_type = 'lead') as new_lead_count,
    count(*) filter (p.person_type = 'contact') as new_contact_count,
    count(*) as new_person_count
from persons p
left join plain.biz_touchpoints ft
    on ft.is_first_touch and p.source_system = ft.source_system and p.person_id = ft.person_id
left join segments g on p.source_system = g.source_system and p.person_id = g.person_id
where not p.is_duplicate and not p.is_deleted
group by all;

create or replace table plain.rpt_persons_reconciliation as
select
    cast(date_trunc('month', p.created_date) as date) as created_month,
    count(*) filter (not p.is_deleted and p.source_system = 'Crm') as crm_persons,
    count(*) filter (not p.is_deleted and p.source_system = 'Crm' and p.other_system_id is not null)
        as crm_persons_with_marketo_match,
    count(*) filter (not p.is_deleted and p.source_system = 'Crm' and p.other_system_id is null) as crm_only_persons,
    count(*) filter (not p.is_deleted and p.source_system = 'Marketo') as marketo_persons,
    count(*) filter (not p.is_deleted and p.source_system = 'Marketo' and p.is_duplicate) as matched_marketo_persons,
    count(*) filter (not p.is_deleted and p.source_system = 'Marketo' and not p.is_duplicate) as marketo_only_persons,
    count(*) filter (not p.is_deleted and p.source_system = 'Marketo' and d.person_id is not null)
        as dangling_synced_ids,
    count(*) filter (not p.is_deleted and (p.source_system = 'Crm' or not p.is_duplicate)) as report_persons,
    count(*) filter (p.is_deleted and p.source_system = 'Crm') as deleted_crm_persons,
    count(*) filter (p.is_deleted and p.source_system = 'Marketo') as deleted_marketo_persons
from persons p
left join plain.dq_marketo_dangling_crm_ids d on p.source_system = 'Marketo' and p.person_id = d.person_id
group by all;

create or replace table plain.rpt_web_traffic_by_day_landing_page_channel as
with sessions as (
    select id as session_id, visitor_id, landing_page, landing_page_title, referrer_domain, channel, subchannel,
        campaign, page_view_count, form_submit_count, cast(date_trunc('day', event_date) as date) as session_day
    from plain.biz_sessions
),
emails as (
    select s.session_day, s.landing_page, s.landing_page_title, s.referrer_domain, s.channel, s.subchannel,
        s.campaign, count(distinct f.email) as n
    from sessions s
    join plain.biz_form_submits f on s.session_id = f.session_id and f.email is not null
    group by all
),
created as (
    select s.session_day, s.landing_page, s.landing_page_title, s.referrer_domain, s.channel, s.subchannel,
        s.campaign, count(*) as n,
        count(*) filter (t.source_system = 'Marketo') as n_marketo, count(*) filter (t.source_system = 'Crm') as n_crm
    from sessions s
    join plain.biz_touchpoints t on s.session_id = t.session_id
    where t.is_lead_creation_touch and t.is_form_submission_touch and not t.is_duplicate and not t.is_deleted
    group by all
)
select
    s.session_day, s.landing_page, s.landing_page_title, s.referrer_domain, s.channel, s.subchannel, s.campaign,
    count(*) as visit_count,
    count(distinct s.visitor_id) as visitor_count, sum(s.page_view_count) as page_view_count,
    sum(s.form_submit_count) as form_submit_count, coalesce(any_value(e.n), 0) as unique_form_email_count,
    coalesce(any_value(c.n), 0) as persons_created_from_forms,
    coalesce(any_value(c.n_marketo), 0) as marketo_persons_created_from_forms,
    coalesce(any_value(c.n_crm), 0) as crm_persons_created_from_forms
from sessions s
left join emails e on s.session_day = e.session_day and s.landing_page is not distinct from e.landing_page
    and s.landing_page_title is not distinct from e.landing_page_title
    and s.referrer_domain is not distinct from e.referrer_domain and s.channel = e.channel
    and s.subchannel is not distinct from e.subchannel and s.campaign is not distinct from e.campaign
left join created c on s.session_day = c.session_day and s.landing_page is not distinct from c.landing_page
    and s.landing_page_title is not distinct from c.landing_page_title
    and s.referrer_domain is not distinct from c.referrer_domain and s.channel = c.channel
    and s.subchannel is not distinct from c.subchannel and s.campaign is not distinct from c.campaign
group by s.session_day, s.landing_page, s.landing_page_title, s.referrer_domain, s.channel, s.subchannel, s.campaign;
