{#-
    Web sessions, Marketo Measure's BIZ_SESSIONS. One row per session.

    Landing page, referrer and UTM fields come from the session's first event; channel and subchannel from
    the first matching rule of the channel_rules seed. Incremental: every session with an event rewritten
    upstream in this run is rebuilt from all its events (unique_key id), and the post-hook drops the sessions
    of those cookies that no longer exist upstream (a late event merged them into another), found among the
    cookie's sessions that end after its rewrite began and were not rewritten.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='id',
    on_schema_change='append_new_columns',
    post_hook=[
        "{% if is_incremental() %}
        -- a session of a rewritten cookie that ends at or after the cookie's earliest rewritten session start
        -- and was not rewritten itself no longer exists upstream: were it there, its events would have been
        -- rebuilt and the session rewritten (earlier sessions keep their events, and their ids)
        {% set vanished %}
        _processed_at < {{ processed_at() }}
            and id in (
                select stored.id
                from {{ this }} as stored
                inner join (
                    select cookie_id, min(event_date) as rewritten_from
                    from {{ this }}
                    where _processed_at = {{ processed_at() }}
                    group by cookie_id
                ) as rewritten
                    on stored.cookie_id = rewritten.cookie_id
                    and stored.session_end >= rewritten.rewritten_from
                where stored._processed_at < {{ processed_at() }}
            )
        {% endset %}
        {{ delete_rows(this, vanished) }}
        {% endif %}"
    ],
) }}

with

{% if is_incremental() %}
-- sessions with an event written upstream since this model's last run, with all their events
touched_sessions as (
    select distinct session_id
    from {{ ref('int_sessions_sessionized') }}
    where _processed_at > {{ last_processed_at() }}
),

events as (
    select events.*
    from {{ ref('int_sessions_sessionized') }} as events
    inner join touched_sessions
        on events.session_id = touched_sessions.session_id
),
{% else %}
events as (
    select * from {{ ref('int_sessions_sessionized') }}
),
{% endif %}

search_engine_domains as (
    select * from {{ ref('search_engine_domains') }}
),

social_network_domains as (
    select * from {{ ref('social_network_domains') }}
),

known_domains as (
    select domain, name, lower(utm_source) as utm_source, 'search_engine' as domain_class
    from search_engine_domains
    union all
    select domain, name, lower(utm_source) as utm_source, 'social_network' as domain_class
    from social_network_domains
),

session_stats as (
    select
        session_id,
        cast(sum(case when event_type = 'page_view' then 1 else 0 end) as {{ dbt.type_bigint() }})    as page_view_count,
        cast(sum(case when event_type = 'form_submit' then 1 else 0 end) as {{ dbt.type_bigint() }})  as form_submit_count,
        max(event_date)                                                 as session_end
    from events
    group by session_id
),

first_events as (
    select
        session_id,
        visitor_id,
        cookie_id,
        current_page_raw                                                as landing_page_raw,
        -- a session that starts with a form submit has no page title
        page_title                                                      as landing_page_title,
        -- a referrer on the site's own host counts as no referrer
        case when has_external_referrer then referrer_page_raw end      as referrer_page_raw,
        case when has_external_referrer then referrer_domain end        as referrer_domain,
        {{ url_parameter('current_page_raw', 'utm_source') }}           as web_source,
        {{ url_parameter('current_page_raw', 'utm_medium') }}           as medium,
        {{ url_parameter('current_page_raw', 'utm_campaign') }}         as campaign,
        {{ url_parameter('current_page_raw', 'utm_term') }}             as term,
        {{ url_parameter('current_page_raw', 'utm_content') }}          as content,
        session_number,
        has_utm,
        session_started_at
    from events
    where event_number = 1
),

-- classify each distinct referrer domain once: the domain itself or a subdomain of a known engine/network
referrer_domains as (
    select distinct referrer_domain from first_events where referrer_domain is not null
),

referrer_matches as (
    select
        referrer_domains.referrer_domain,
        known_domains.domain_class,
        known_domains.name,
        row_number() over (
            partition by referrer_domains.referrer_domain
            order by length(known_domains.domain) desc, known_domains.domain
        )                                                               as match_rank
    from referrer_domains
    inner join known_domains
        on referrer_domains.referrer_domain = known_domains.domain
        or referrer_domains.referrer_domain like {{ dbt.concat(["'%.'", "known_domains.domain"]) }}
),

utm_sources as (
    select distinct lower(trim(web_source)) as utm_source_key from first_events where web_source is not null
),

utm_source_matches as (
    select
        utm_sources.utm_source_key,
        known_domains.domain_class,
        known_domains.name,
        row_number() over (
            partition by utm_sources.utm_source_key
            order by known_domains.domain_class, known_domains.domain
        )                                                               as match_rank
    from utm_sources
    inner join known_domains
        on utm_sources.utm_source_key = known_domains.utm_source
        or utm_sources.utm_source_key = lower(known_domains.name)
        or utm_sources.utm_source_key = known_domains.domain
),

sessions_classified as (
    select
        first_events.*,
        lower(trim(first_events.medium))                                as medium_key,
        lower({{ url_without_query('first_events.landing_page_raw') }}) as landing_page_key,
        utm_source_matches.domain_class                                 as utm_source_class,
        coalesce(utm_source_matches.name, first_events.web_source)      as source_name,
        case
            when first_events.referrer_domain is null then 'none'
            else coalesce(referrer_matches.domain_class, 'other')
        end                                                             as referrer_class,
        referrer_matches.name                                           as referrer_name
    from first_events
    left join referrer_matches
        on first_events.referrer_domain = referrer_matches.referrer_domain
        and referrer_matches.match_rank = 1
    left join utm_source_matches
        on lower(trim(first_events.web_source)) = utm_source_matches.utm_source_key
        and utm_source_matches.match_rank = 1
),

-- depends_on: {{ ref('channel_rules') }}
-- the channel rules (seeds/channel_rules.csv), read when the model compiles and written out as one CASE per
-- column in rule order: every rule whose conditions all hold matches (a blank condition matches anything),
-- and the first by priority wins. A CASE costs one pass over the sessions, where a join on the rules would
-- pair every session with every rule.
{%- set rules = [] %}
{#- (`dbt compile` or `dbt docs generate` before the first `dbt seed`: no rules to read yet) #}
{%- if execute and load_relation(ref('channel_rules')) is not none %}
    {%- set rules = run_query(
        "select channel, utm_medium, utm_source_class, referrer_class, has_utm, landing_page_pattern, "
        ~ "subchannel_from from " ~ ref('channel_rules') ~ " order by priority, channel, utm_medium nulls last, "
        ~ "utm_source_class nulls last, referrer_class nulls last, has_utm nulls last, "
        ~ "landing_page_pattern nulls last, subchannel_from nulls last").rows %}
{%- endif %}
{%- set subchannel_columns = {
    'source_name': 'source_name', 'utm_source': 'web_source',
    'referrer_name': 'referrer_name', 'referrer_domain': 'referrer_domain',
} %}
{%- set rule_cases = [] %}
{%- for channel, utm_medium, utm_source_class, referrer_class, has_utm, pattern, subchannel_from in rules %}
    {%- set conditions = [] %}
    {%- if utm_medium is not none %}{% do conditions.append("medium_key = lower(" ~ sql_string(utm_medium) ~ ")") %}{% endif %}
    {%- if utm_source_class is not none %}{% do conditions.append("utm_source_class = " ~ sql_string(utm_source_class)) %}{% endif %}
    {%- if referrer_class is not none %}{% do conditions.append("referrer_class = " ~ sql_string(referrer_class)) %}{% endif %}
    {%- if has_utm is not none %}{% do conditions.append("has_utm = " ~ ('true' if has_utm else 'false')) %}{% endif %}
    {%- if pattern is not none %}{% do conditions.append("landing_page_key like lower(" ~ sql_string(pattern) ~ ")") %}{% endif %}
    {%- do rule_cases.append({
        'when': conditions | join(' and ') if conditions else 'true',
        'channel': sql_string(channel),
        'subchannel': subchannel_columns.get(subchannel_from, 'null'),
    }) %}
{%- endfor %}

sessions_channeled as (
    select
        *,
        -- a session no rule matches (only possible after editing the seed) is Other, as in Measure
        case
            {%- for rule in rule_cases %}
            when {{ rule.when }} then {{ rule.channel }}
            {%- endfor %}
            else 'Other'
        end                                                             as channel,
        case
            {%- for rule in rule_cases %}
            when {{ rule.when }} then {{ rule.subchannel }}
            {%- endfor %}
            else null
        end                                                             as subchannel
    from sessions_classified
),

final as (
    select
        ---------- ids
        sessions_classified.session_id                                  as id,
        sessions_classified.visitor_id,
        sessions_classified.cookie_id,
        ---------- strings
        -- a session no rule matches (only possible after editing the seed) is Other, as in Measure
        sessions_classified.channel,
        sessions_classified.subchannel,
        {{ url_without_query('sessions_classified.landing_page_raw') }} as landing_page,
        sessions_classified.landing_page_raw,
        sessions_classified.landing_page_title,
        {{ url_without_query('sessions_classified.referrer_page_raw') }} as referrer_page,
        sessions_classified.referrer_page_raw,
        sessions_classified.referrer_domain,
        sessions_classified.web_source,
        sessions_classified.medium,
        sessions_classified.campaign,
        sessions_classified.term,
        sessions_classified.content,
        ---------- numerics
        sessions_classified.session_number,
        session_stats.page_view_count,
        session_stats.form_submit_count,
        ---------- booleans
        sessions_classified.session_number = 1                          as is_first_session,
        session_stats.form_submit_count > 0                             as has_form,
        ---------- timestamps
        sessions_classified.session_started_at                          as event_date,
        session_stats.session_end,
        {{ processed_at() }}                                            as _processed_at
    from sessions_channeled as sessions_classified
    inner join session_stats
        on sessions_classified.session_id = session_stats.session_id
)

select * from final
