{#-
    Touchpoints, Marketo Measure's BIZ_TOUCHPOINTS: one row per person (source_system, person_id) and web
    session that is a touchpoint of the person's email, with the lead-level attribution weights (B3, B4).

    Incremental: a run rewrites every touchpoint of the persons whose touchpoints may have changed — those
    whose email was recomputed upstream (new events on a linked cookie, a late form fill linking an old
    anonymous cookie) and those whose own fields changed (new person, email, created_date, account, flags;
    seen through `_person_fingerprint`). A person whose email changed to one without touchpoints gets no new
    rows, so the post-hook removes the rows of every person that no longer has the email they were written for.
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_system', 'person_id'],
    on_schema_change='append_new_columns',
    post_hook=[
        "{% if is_incremental() %}
        delete from {{ this }}
        where not exists (
            select 1
            from {{ ref('int_persons_unioned') }} as persons
            where persons.source_system = {{ this }}.source_system
                and persons.person_id = {{ this }}.person_id
                and {{ normalize_email('persons.email') }} = {{ this }}.email
        )
        {% endif %}"
    ],
) }}

-- the post-hook reads persons: depends_on: {{ ref('int_persons_unioned') }}

with

touchpoints_weighted as (
    select * from {{ ref('int_touchpoints_weighted') }}
),

sessions as (
    select * from {{ ref('biz_sessions') }}
),

segments as (
    select * from {{ ref('int_persons_segmented') }}
),

-- read only by incremental runs, to find the emails recomputed upstream
touchpoints_by_email as (
    select * from {{ ref('int_touchpoints_by_email') }}
),

-- the person's segments (B6, seeds/segment_rules.csv) ride along, so a rule change rewrites the rows it moves
touchpoints_segmented as (
    select
        touchpoints_weighted.*,
        {%- for i in range(1, 16) %}
        segments.category{{ i }}{{ "," if not loop.last }}
        {%- endfor %}
    from touchpoints_weighted
    left join segments
        on touchpoints_weighted.source_system = segments.source_system
        and touchpoints_weighted.person_id = segments.person_id
),

touchpoints_fingerprinted as (
    select
        *,
        {%- set categories = [] %}
        {%- for i in range(1, 16) %}{% do categories.extend(["coalesce(category" ~ i ~ ", '')", "'|'"]) %}{% endfor %}
        {{ dbt.hash(dbt.concat([
            "coalesce(person_type, '')", "'|'",
            "coalesce(email, '')", "'|'",
            "coalesce(account_id, '')", "'|'",
            "coalesce(cast(person_created_date as " ~ dbt.type_string() ~ "), '')", "'|'",
            "cast(is_deleted as " ~ dbt.type_string() ~ ")", "'|'",
        ] + categories + [
            "cast(is_duplicate as " ~ dbt.type_string() ~ ")",
        ])) }}                                          as _person_fingerprint
    from touchpoints_segmented
),

{% if is_incremental() %}
touched_emails as (
    select distinct email
    from touchpoints_by_email
    where _processed_at > {{ last_processed_at() }}
),

stored_persons as (
    select distinct source_system, person_id, _person_fingerprint
    from {{ this }}
),

-- new persons, and persons whose fields changed since their touchpoints were written
changed_persons as (
    select distinct
        touchpoints_fingerprinted.source_system,
        touchpoints_fingerprinted.person_id
    from touchpoints_fingerprinted
    left join stored_persons
        on touchpoints_fingerprinted.source_system = stored_persons.source_system
        and touchpoints_fingerprinted.person_id = stored_persons.person_id
        and touchpoints_fingerprinted._person_fingerprint = stored_persons._person_fingerprint
    where stored_persons.person_id is null
),

persons_of_touched_emails as (
    select distinct
        touchpoints_fingerprinted.source_system,
        touchpoints_fingerprinted.person_id
    from touchpoints_fingerprinted
    inner join touched_emails
        on touchpoints_fingerprinted.email = touched_emails.email
),

affected_persons as (
    select source_system, person_id from changed_persons
    union
    select source_system, person_id from persons_of_touched_emails
),

touchpoints as (
    select touchpoints_fingerprinted.*
    from touchpoints_fingerprinted
    inner join affected_persons
        on touchpoints_fingerprinted.source_system = affected_persons.source_system
        and touchpoints_fingerprinted.person_id = affected_persons.person_id
),
{% else %}
touchpoints as (
    select * from touchpoints_fingerprinted
),
{% endif %}

final as (
    select
        ---------- ids
        touchpoints.touchpoint_id                       as id,
        touchpoints.person_id,
        touchpoints.lead_id,
        touchpoints.contact_id,
        touchpoints.account_id,
        touchpoints.visitor_id,
        touchpoints.session_id,
        ---------- strings
        touchpoints.email,
        touchpoints.marketing_touch_type,
        sessions.channel,
        sessions.subchannel,
        sessions.landing_page,
        sessions.landing_page_raw,
        sessions.referrer_page,
        sessions.referrer_page_raw,
        touchpoints.form_page,
        touchpoints.form_page_raw,
        sessions.medium,
        sessions.web_source,
        sessions.campaign,
        sessions.term,
        sessions.content,
        touchpoints.source_system,
        -- segment values (B6): category1..category15, named in biz_segment_names
        {%- for i in range(1, 16) %}
        touchpoints.category{{ i }},
        {%- endfor %}
        ---------- numerics
        touchpoints.first_click_percentage,
        touchpoints.last_anon_click_percentage,
        touchpoints.u_shape_percentage,
        ---------- booleans
        touchpoints.is_first_touch,
        touchpoints.is_lead_creation_touch,
        touchpoints.is_form_submission_touch,
        touchpoints.is_deleted,
        touchpoints.is_duplicate,
        ---------- timestamps
        touchpoints.touchpoint_date,
        touchpoints.form_date,
        touchpoints.person_created_date,
        touchpoints._person_fingerprint,
        {{ processed_at() }}                            as _processed_at
    from touchpoints
    inner join sessions
        on touchpoints.session_id = sessions.id
)

select * from final
