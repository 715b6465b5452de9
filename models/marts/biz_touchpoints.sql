{#-
    Touchpoints, Marketo Measure's BIZ_TOUCHPOINTS: one row per person (source_system, person_id) and web
    session that is a touchpoint of the person's email, with the lead-level attribution weights (B3, B4).

    Incremental: a run rewrites every touchpoint of the persons whose touchpoints may have changed — those
    whose email was recomputed upstream (new events on a linked cookie, a late form fill linking an old
    anonymous cookie) and those whose own fields changed (new person, email, created_date, account, flags;
    seen through `_person_fingerprint`; the comparison is skipped when the person models were not rebuilt
    since this model last wrote). A person whose email changed to one without touchpoints gets no new rows,
    so a pre-hook removes the rows of every person that no longer has the email they were written for (only
    when the persons were rebuilt since this model last wrote: otherwise no person can have moved).
-#}
{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['source_system', 'person_id'],
    on_schema_change='append_new_columns',
    pre_hook=[
        "{% if is_incremental() and not not_rebuilt_since_last_write(['int_persons_unioned']) %}
        {% set moved %}
        not exists (
            select 1
            from {{ ref('int_persons_unioned') }} as persons
            where persons.source_system = {{ this }}.source_system
                and persons.person_id = {{ this }}.person_id
                and {{ normalize_email('persons.email') }} = {{ this }}.email
        )
        {% endset %}
        {{ delete_rows(this, moved) }}
        {% endif %}"
    ],
) }}

with

persons as (
    select * from {{ ref('int_persons_unioned') }}
),

email_touchpoints as (
    select * from {{ ref('int_touchpoints_by_email') }}
),

sessions as (
    select * from {{ ref('biz_sessions') }}
),

segments as (
    select * from {{ ref('int_persons_segmented') }}
),

-- what a person's touchpoints carry besides the touchpoints themselves: its fields and its segments (B6,
-- seeds/segment_rules.csv), fingerprinted so a changed person (or a rule change) rewrites its rows
{%- set person_columns %}
        persons.source_system,
        persons.person_id,
        {{ normalize_email('persons.email') }}          as email,
        {%- for i in range(1, 16) %}
        segments.category{{ i }},
        {%- endfor %}
        {%- set categories = [] %}
        {%- for i in range(1, 16) %}{% do categories.extend(["coalesce(segments.category" ~ i ~ ", '')", "'|'"]) %}{% endfor %}
        {{ dbt.hash(dbt.concat([
            "coalesce(persons.person_type, '')", "'|'",
            "coalesce(" ~ normalize_email('persons.email') ~ ", '')", "'|'",
            "coalesce(persons.account_id, '')", "'|'",
            "coalesce(cast(persons.created_date as " ~ dbt.type_string() ~ "), '')", "'|'",
            "cast(persons.is_deleted as " ~ dbt.type_string() ~ ")", "'|'",
        ] + categories + [
            "cast(persons.is_duplicate as " ~ dbt.type_string() ~ ")",
        ])) }}                                          as _person_fingerprint
{%- endset %}
{#- persons and segments unchanged since this model last wrote: only touched emails can move touchpoints -#}
{%- set persons_unchanged = is_incremental()
    and not_rebuilt_since_last_write(['int_persons_unioned', 'int_persons_segmented']) %}

{% if is_incremental() %}
-- In this branch the upstream models are read where each read is filtered, not through the import CTEs:
-- a CTE read twice is materialized whole, and its filters no longer reach the scan.

-- emails whose touchpoints were recomputed upstream since this model's last run
touched_emails as (
    select distinct email
    from {{ ref('int_touchpoints_by_email') }}
    where _processed_at > {{ last_processed_at() }}
),

-- persons' emails are normalized in staging (normalize_email; tested on int_persons_unioned): they join as
-- they are, without re-normalizing every person on every run
persons_of_touched_emails as (
    select
        persons.source_system,
        persons.person_id
    from {{ ref('int_persons_unioned') }} as persons
    inner join touched_emails
        on persons.email = touched_emails.email
),

{% if not persons_unchanged %}
persons_fingerprinted as (
    select {{ person_columns }}
    from persons
    left join segments
        on persons.source_system = segments.source_system
        and persons.person_id = segments.person_id
),

emails_with_touchpoints as (
    select distinct email from {{ ref('int_touchpoints_by_email') }}
),

stored_persons as (
    select distinct source_system, person_id, _person_fingerprint
    from {{ this }}
),

-- persons with touchpoints that are new, or whose fields changed since their touchpoints were written
changed_persons as (
    select
        persons_fingerprinted.source_system,
        persons_fingerprinted.person_id
    from persons_fingerprinted
    inner join emails_with_touchpoints
        on persons_fingerprinted.email = emails_with_touchpoints.email
    left join stored_persons
        on persons_fingerprinted.source_system = stored_persons.source_system
        and persons_fingerprinted.person_id = stored_persons.person_id
        and persons_fingerprinted._person_fingerprint = stored_persons._person_fingerprint
    where stored_persons.person_id is null
),
{% endif %}

affected_persons as (
    select source_system, person_id from persons_of_touched_emails
    {% if not persons_unchanged -%}
    union
    select source_system, person_id from changed_persons
    {%- endif %}
),

-- only the affected persons are weighed
persons_in_scope as (
    select persons.*
    from persons
    inner join affected_persons
        on persons.source_system = affected_persons.source_system
        and persons.person_id = affected_persons.person_id
),

-- the touchpoints of their emails only
email_touchpoints_in_scope as (
    select email_touchpoints.*
    from {{ ref('int_touchpoints_by_email') }} as email_touchpoints
    inner join (select distinct {{ normalize_email('email') }} as email from persons_in_scope) as scope_emails
        on email_touchpoints.email = scope_emails.email
),
{% else %}
persons_in_scope as (
    select * from persons
),

email_touchpoints_in_scope as (
    select * from email_touchpoints
),
{% endif %}

scope_fingerprinted as (
    select {{ person_columns }}
    from persons_in_scope as persons
    left join segments
        on persons.source_system = segments.source_system
        and persons.person_id = segments.person_id
),

-- the rules of int_touchpoints_weighted (macro touchpoints_weighted)
touchpoints_weighted as (
    {{ touchpoints_weighted('persons_in_scope', 'email_touchpoints_in_scope') }}
),

touchpoints as (
    select
        touchpoints_weighted.*,
        {%- for i in range(1, 16) %}
        scope_fingerprinted.category{{ i }},
        {%- endfor %}
        scope_fingerprinted._person_fingerprint
    from touchpoints_weighted
    inner join scope_fingerprinted
        on touchpoints_weighted.source_system = scope_fingerprinted.source_system
        and touchpoints_weighted.person_id = scope_fingerprinted.person_id
),

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
