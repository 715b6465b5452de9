{#-
    Every web event (page view or form submit) with the session it belongs to. One row per event.

    A cookie's events, in time order (same instant: page view before form submit, then id), start a new
    session when the gap to the previous event is longer than `session_timeout_minutes` (exactly the timeout
    stays in the session), or when a page view is a new arrival from another channel: a referrer on another
    host than the page, or a UTM-tagged URL. A Direct arrival never cuts.

    Incremental: a run re-sessionizes the whole history of every cookie that has events in a dlt load not
    processed yet, and replaces that cookie's rows (unique_key cookie_id with delete+insert). Late or
    out-of-order events therefore give exactly what a full refresh gives.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='cookie_id',
    on_schema_change='append_new_columns',
    post_hook=[
        "{% if is_incremental() %}
        -- an event re-delivered under another cookie was written again under its new cookie in this run;
        -- its row under the old cookie (which may have no events left, so nothing replaced it) goes
        delete from {{ this }}
        where _processed_at < {{ processed_at() }}
            and exists (
                select 1
                from {{ this }} as rewritten
                where rewritten._processed_at = {{ processed_at() }}
                    and rewritten.event_type = {{ this }}.event_type
                    and rewritten.event_id = {{ this }}.event_id
            )
        {% endif %}"
    ],
) }}

with

page_views as (
    select * from {{ ref('stg_web__page_views') }}
),

form_submits as (
    select * from {{ ref('stg_web__form_submits') }}
),

dlt_loads as (
    select * from {{ ref('stg_web__dlt_loads') }}
),

events_unioned as (
    select
        ---------- ids
        'page_view'                                 as event_type,
        page_view_id                                as event_id,
        cookie_id,
        ---------- strings
        current_page_raw,
        referrer_page_raw,
        page_title,
        cast(null as {{ dbt.type_string() }})       as email,
        cast(null as {{ dbt.type_string() }})       as email_raw,
        cast(null as {{ dbt.type_string() }})       as form_identifier,
        ip_address,
        user_agent_string,
        _dlt_load_id,
        ---------- numerics
        -- at the same instant a page view comes before the form submitted on it
        0                                           as event_type_rank,
        ---------- timestamps
        event_date
    from page_views

    union all

    select
        'form_submit'                               as event_type,
        form_submit_id                              as event_id,
        cookie_id,
        current_page_raw,
        cast(null as {{ dbt.type_string() }})       as referrer_page_raw,
        cast(null as {{ dbt.type_string() }})       as page_title,
        email,
        email_raw,
        form_identifier,
        ip_address,
        user_agent_string,
        _dlt_load_id,
        1                                           as event_type_rank,
        event_date
    from form_submits
),

completed_loads as (
    select load_id from dlt_loads where is_completed
),

-- rows of a load dlt has not finished yet wait for the next run (a full refresh treats them alike);
-- rows fed without a dlt load id count, but only a full refresh or new events on their cookie pick them up.
-- Events without cookie, id or time cannot be placed in a session; staging's warn-level tests count them.
events_usable as (
    select events_unioned.*
    from events_unioned
    left join completed_loads
        on events_unioned._dlt_load_id = completed_loads.load_id
    where events_unioned.cookie_id is not null
        and events_unioned.event_id is not null
        and events_unioned.event_date is not null
        and (events_unioned._dlt_load_id is null or completed_loads.load_id is not null)
),

{% if is_incremental() %}
-- completed loads this model has not seen yet
new_loads as (
    select load_id
    from completed_loads
    where load_id not in (
            select distinct _dlt_load_id from {{ this }} where _dlt_load_id is not null
        )
),

new_events as (
    select events_usable.*
    from events_usable
    inner join new_loads
        on events_usable._dlt_load_id = new_loads.load_id
),

touched_cookies as (
    select cookie_id from new_events
    union
    -- an event re-delivered under another cookie: its old cookie is rebuilt too, so the event leaves it
    select stored.cookie_id
    from {{ this }} as stored
    inner join new_events
        on stored.event_type = new_events.event_type
        and stored.event_id = new_events.event_id
),

-- the whole history of each touched cookie, so a session spanning the previous run's boundary is rebuilt
events as (
    select events_usable.*
    from events_usable
    inner join touched_cookies
        on events_usable.cookie_id = touched_cookies.cookie_id
),
{% else %}
events as (
    select * from events_usable
),
{% endif %}

events_classified as (
    select
        *,
        {{ dbt.concat(["event_type", "':'", "event_id"]) }}             as event_key,
        {{ url_domain('current_page_raw') }}                            as page_domain,
        {{ url_domain('referrer_page_raw') }}                           as referrer_domain
    from events
),

arrivals_flagged as (
    select
        *,
        -- a referrer on the page's own host is a click inside the site: no referrer
        coalesce(referrer_domain <> coalesce(page_domain, ''), false)   as has_external_referrer,
        {{ url_has_utm('current_page_raw') }}                           as has_utm
    from events_classified
),

gaps_measured as (
    select
        *,
        lag(event_date) over (
            partition by cookie_id
            order by event_date, event_type_rank, event_id
        )                                                               as previous_event_date
    from arrivals_flagged
),

session_starts_flagged as (
    select
        *,
        case
            when previous_event_date is null then true
            when event_date > {{ dbt.dateadd('minute', var('session_timeout_minutes', 30), 'previous_event_date') }}
                then true
            -- a new arrival from another channel; a Direct arrival (no referrer, no UTM) never cuts
            when event_type = 'page_view' and (has_external_referrer or has_utm) then true
            else false
        end                                                             as is_session_start
    from gaps_measured
),

sessions_numbered as (
    select
        *,
        cast(sum(case when is_session_start then 1 else 0 end) over (
            partition by cookie_id
            order by event_date, event_type_rank, event_id
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }})                                   as session_number
    from session_starts_flagged
),

sessions_keyed as (
    select
        *,
        first_value(event_key) over (
            partition by cookie_id, session_number
            order by event_date, event_type_rank, event_id
            rows between unbounded preceding and unbounded following
        )                                                               as session_first_event_key,
        min(event_date) over (partition by cookie_id, session_number)   as session_started_at,
        row_number() over (
            partition by cookie_id, session_number
            order by event_date, event_type_rank, event_id
        )                                                               as event_number
    from sessions_numbered
),

final as (
    select
        ---------- ids
        event_key,
        event_type,
        event_id,
        -- deterministic: the same events always give the same session id, whichever run builds it
        {{ dbt.hash(dbt.concat(["cookie_id", "'|'", "session_first_event_key"])) }}  as session_id,
        cookie_id                                                       as visitor_id,
        cookie_id,
        ---------- strings
        current_page_raw,
        referrer_page_raw,
        page_title,
        email,
        email_raw,
        form_identifier,
        ip_address,
        user_agent_string,
        page_domain,
        referrer_domain,
        _dlt_load_id,
        ---------- numerics
        event_type_rank,
        session_number,
        event_number,
        ---------- booleans
        has_external_referrer,
        has_utm,
        is_session_start,
        ---------- timestamps
        event_date,
        session_started_at,
        {{ processed_at() }}                                            as _processed_at
    from sessions_keyed
)

select * from final
