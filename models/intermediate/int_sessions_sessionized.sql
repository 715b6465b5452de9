{#-
    Every web event (page view or form submit) with the session it belongs to. One row per event.

    A cookie's events, in time order (same instant: page view before form submit, then id), start a new
    session when the gap to the previous event is longer than `session_timeout_minutes` (exactly the timeout
    stays in the session), or when a page view is a new arrival from another channel: a referrer on another
    host than the page, or a UTM-tagged URL. A Direct arrival never cuts.

    Incremental: for every cookie with events in a dlt load not processed yet, a run rebuilds the cookie's
    events from its earliest new event on (a late event rebuilds from where it falls: the new events plus the
    stored rows after it), continuing from the stored event just before (the anchor: its session number,
    session id, start and event number), and replaces those rows (unique_key event_key with delete+insert). Events before the earliest new one keep
    their session: whether an event starts a session depends only on the event before it. Late or
    out-of-order events therefore give exactly what a full refresh gives, at the cost of the new events.
    An event re-delivered under another cookie is rebuilt on both cookies, from its old date on the old one.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='event_key',
    on_schema_change='append_new_columns',
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
-- rows fed without a dlt load id count, but only a full refresh picks them up (incremental runs find new
-- events by load id, and rebuild from the stored rows).
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

{#- the anchor columns of an event that is not an anchor -#}
{%- set no_anchor -%}
        false                                                           as is_anchor,
        cast(null as {{ dbt.type_bigint() }})                           as anchor_session_number,
        cast(null as {{ dbt.type_string() }})                           as anchor_session_id,
        cast(null as {{ dbt.type_timestamp() }})                        as anchor_session_started_at,
        cast(null as {{ dbt.type_bigint() }})                           as anchor_event_number
{%- endset %}

{% if is_incremental() %}
-- completed loads this model has not seen yet
new_loads as (
    select load_id
    from completed_loads
    where load_id not in (
            select distinct _dlt_load_id from {{ this }} where _dlt_load_id is not null
        )
),

-- the new loads' events only: the staging views are read once, filtered by load id
new_events as (
    select events_unioned.*
    from events_unioned
    inner join new_loads
        on events_unioned._dlt_load_id = new_loads.load_id
    where events_unioned.cookie_id is not null
        and events_unioned.event_id is not null
        and events_unioned.event_date is not null
),

new_event_keys as (
    select {{ dbt.concat(["event_type", "':'", "event_id"]) }} as event_key
    from new_events
),

-- where each touched cookie is rebuilt from: its earliest new event, or the stored date of an event that
-- came again (a re-delivered event may carry another date, or another cookie: then its old cookie too)
rebuild_points as (
    select cookie_id, event_date from new_events
    union all
    select stored.cookie_id, stored.event_date
    from {{ this }} as stored
    inner join new_event_keys
        on stored.event_key = new_event_keys.event_key
),

rebuild_starts as (
    select cookie_id, min(event_date) as rebuild_from
    from rebuild_points
    group by cookie_id
),

-- stored events at or after the rebuild point, except those that came again (the new version wins)
stored_rebuilt as (
    select stored.*
    from {{ this }} as stored
    inner join rebuild_starts
        on stored.cookie_id = rebuild_starts.cookie_id
        and stored.event_date >= rebuild_starts.rebuild_from
    left join new_event_keys
        on stored.event_key = new_event_keys.event_key
    where new_event_keys.event_key is null
),

-- the stored events before each touched cookie's rebuild point, read once (the scan keeps the touched
-- cookies' rows only); the latest of them is the anchor: rebuilt events continue its session
stored_before as (
    select
        stored.event_type,
        stored.event_id,
        stored.cookie_id,
        stored.event_type_rank,
        stored.event_date,
        stored.session_number,
        stored.session_id,
        stored.session_started_at,
        stored.event_number
    from {{ this }} as stored
    inner join rebuild_starts
        on stored.cookie_id = rebuild_starts.cookie_id
        and stored.event_date < rebuild_starts.rebuild_from
),

anchor_dates as (
    select cookie_id, max(event_date) as anchor_date
    from stored_before
    group by cookie_id
),

anchor_candidates as (
    select
        stored_before.event_type,
        stored_before.event_id,
        stored_before.cookie_id,
        stored_before.event_type_rank,
        stored_before.event_date,
        stored_before.session_number                                    as anchor_session_number,
        stored_before.session_id                                        as anchor_session_id,
        stored_before.session_started_at                                as anchor_session_started_at,
        stored_before.event_number                                      as anchor_event_number
    from stored_before
    inner join anchor_dates
        on stored_before.cookie_id = anchor_dates.cookie_id
        and stored_before.event_date = anchor_dates.anchor_date
),

anchors as (
    select *
    from (
        select
            *,
            row_number() over (
                partition by cookie_id
                order by event_type_rank desc, event_id desc
            )                                                           as anchor_rank
        from anchor_candidates
    ) as ranked
    where anchor_rank = 1
),

events_to_rebuild as (
    select * from new_events

    union all

    select
        event_type,
        event_id,
        cookie_id,
        current_page_raw,
        referrer_page_raw,
        page_title,
        email,
        email_raw,
        form_identifier,
        ip_address,
        user_agent_string,
        _dlt_load_id,
        event_type_rank,
        event_date
    from stored_rebuilt
),

events as (
    select
        events_to_rebuild.*,
        {{ no_anchor }}
    from events_to_rebuild

    union all

    select
        event_type,
        event_id,
        cookie_id,
        cast(null as {{ dbt.type_string() }})                           as current_page_raw,
        cast(null as {{ dbt.type_string() }})                           as referrer_page_raw,
        cast(null as {{ dbt.type_string() }})                           as page_title,
        cast(null as {{ dbt.type_string() }})                           as email,
        cast(null as {{ dbt.type_string() }})                           as email_raw,
        cast(null as {{ dbt.type_string() }})                           as form_identifier,
        cast(null as {{ dbt.type_string() }})                           as ip_address,
        cast(null as {{ dbt.type_string() }})                           as user_agent_string,
        cast(null as {{ dbt.type_string() }})                           as _dlt_load_id,
        event_type_rank,
        event_date,
        true                                                            as is_anchor,
        anchor_session_number,
        anchor_session_id,
        anchor_session_started_at,
        anchor_event_number
    from anchors
),
{% else %}
events as (
    select
        *,
        {{ no_anchor }}
    from events_usable
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
        )                                                               as previous_event_date,
        row_number() over (
            partition by cookie_id
            order by event_date, event_type_rank, event_id
        )                                                               as cookie_event_number
    from arrivals_flagged
),

session_starts_flagged as (
    select
        *,
        case
            when previous_event_date is null then true
            when event_date > {{ add_minutes('previous_event_date', var('session_timeout_minutes', 30)) }}
                then true
            -- a new arrival from another channel; a Direct arrival (no referrer, no UTM) never cuts
            when event_type = 'page_view' and (has_external_referrer or has_utm) then true
            else false
        end                                                             as is_session_start
    from gaps_measured
),

-- One running window over each cookie gives every event its session: the number of starts so far, and the
-- latest start's position, key and time. The key is the start's event key (hashed into the session id),
-- carried as a string led by the start's zero-padded position so that the running max is the latest start.
-- An anchor (incremental runs) sorts first in its cookie and counts as the start of its stored session:
-- numbering continues from it, and the events that stay in its session keep its id, start and event count.
{%- set anchored = is_incremental() %}
{%- set running = "over (partition by cookie_id order by event_date, event_type_rank, event_id rows between unbounded preceding and current row)" %}
sessions_numbered as (
    select
        *,
        cast(
            {% if anchored -%}
            coalesce(max(anchor_session_number) over (partition by cookie_id), 0) +
            {% endif -%}
            sum(case when is_session_start and not is_anchor then 1 else 0 end) {{ running }}
        as {{ dbt.type_bigint() }})                                     as session_number,
        max(case when is_session_start then {{ dbt.concat([
            "lpad(cast(cookie_event_number as " ~ dbt.type_string() ~ "), 12, '0')",
            "case when is_anchor then " ~ dbt.concat(["'A'", "anchor_session_id"]) ~ " else "
                ~ dbt.concat(["'K'", "event_key"]) ~ " end",
        ]) }} end) {{ running }}                                        as session_start_key,
        max(case when is_session_start then cookie_event_number end) {{ running }} as session_start_number,
        max(case when is_session_start then coalesce(anchor_session_started_at, event_date) end) {{ running }}
                                                                        as session_started_at
        {%- if anchored %},
        max(anchor_event_number) over (partition by cookie_id)          as cookie_anchor_event_number
        {%- endif %}
    from session_starts_flagged
),

sessions_keyed as (
    select
        *,
        substr(session_start_key, 13, 1) = 'A'                          as is_anchor_session,
        substr(session_start_key, 14)                                   as session_first_event_key
    from sessions_numbered
),

sessions_identified as (
    select
        *,
        case
            when is_anchor_session then session_first_event_key
            else {{ dbt.hash(dbt.concat(["cookie_id", "'|'", "session_first_event_key"])) }}
        end                                                             as session_id,
        cookie_event_number - session_start_number
            + {% if anchored %}case when is_anchor_session then cookie_anchor_event_number else 1 end
              {%- else %}1{% endif %}                                   as event_number
    from sessions_keyed
),

final as (
    select
        ---------- ids
        event_key,
        event_type,
        event_id,
        -- deterministic: the same events always give the same session id, whichever run builds it
        session_id,
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
    from sessions_identified
    where not is_anchor
)

select * from final
