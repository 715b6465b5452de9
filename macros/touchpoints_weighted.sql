{#-
    The weighted touchpoints of `persons` (rows of int_persons_unioned, or some of them) from
    `touchpoints_by_email` (int_touchpoints_by_email): the rules of int_touchpoints_weighted, in one place
    for that view and for biz_touchpoints, which weighs only the persons an incremental run affects.
-#}
{% macro touchpoints_weighted(persons, touchpoints_by_email) %}
    with

    persons as (
        select * from {{ persons }}
    ),

    touchpoints_by_email as (
        select * from {{ touchpoints_by_email }}
    ),

    -- normalized again at the join: CRM persons join the union with emails as their source wrote them
    persons_with_email as (
        select
            source_system,
            person_id,
            person_type,
            {{ normalize_email('email') }}                  as email,
            account_id,
            is_deleted,
            is_duplicate,
            created_date
        from persons
    ),

    person_touchpoints as (
        select
            persons_with_email.source_system,
            persons_with_email.person_id,
            persons_with_email.person_type,
            persons_with_email.account_id,
            persons_with_email.is_deleted,
            persons_with_email.is_duplicate,
            persons_with_email.created_date                 as person_created_date,
            touchpoints_by_email.*,
            coalesce(
                touchpoints_by_email.touchpoint_date <= {{ add_minutes(
                    'persons_with_email.created_date', var('lead_creation_tolerance_minutes', 5)) }},
                false
            )                                               as is_before_lead_creation
        from persons_with_email
        inner join touchpoints_by_email
            on persons_with_email.email = touchpoints_by_email.email
    ),

    touchpoints_ranked as (
        select
            *,
            row_number() over (
                partition by source_system, person_id
                order by touchpoint_date, session_started_at, session_id
            )                                               as touch_number,
            -- the latest touchpoint at or before creation ranks first
            row_number() over (
                partition by source_system, person_id
                order by
                    case when is_before_lead_creation then 0 else 1 end,
                    touchpoint_date desc,
                    session_started_at desc,
                    session_id desc
            )                                               as lead_creation_rank
        from person_touchpoints
    ),

    touchpoints_flagged as (
        select
            *,
            touch_number = 1                                as is_first_touch,
            is_before_lead_creation and lead_creation_rank = 1 as is_lead_creation_touch
        from touchpoints_ranked
    ),

    persons_flagged as (
        select
            *,
            max(case when is_lead_creation_touch then 1 else 0 end) over (
                partition by source_system, person_id
            ) = 1                                           as has_lead_creation_touch
        from touchpoints_flagged
    ),

    final as (
        select
            ---------- ids
            {{ dbt.hash(dbt.concat(["source_system", "'|'", "person_id", "'|'", "session_id"])) }} as touchpoint_id,
            source_system,
            person_id,
            case when person_type = 'lead' then person_id end       as lead_id,
            case when person_type = 'contact' then person_id end    as contact_id,
            account_id,
            session_id,
            visitor_id,
            ---------- strings
            email,
            person_type,
            marketing_touch_type,
            form_page,
            form_page_raw,
            ---------- numerics
            cast(case when is_first_touch then 100 else 0 end as {{ dbt.type_numeric() }})
                                                            as first_click_percentage,
            cast(case when is_lead_creation_touch then 100 else 0 end as {{ dbt.type_numeric() }})
                                                            as last_anon_click_percentage,
            cast(
                case
                    when is_first_touch and (is_lead_creation_touch or not has_lead_creation_touch) then 100
                    when is_first_touch then {{ var('u_shape_first_touch_percentage', 50) }}
                    when is_lead_creation_touch then {{ var('u_shape_lead_creation_percentage', 50) }}
                    else 0
                end as {{ dbt.type_numeric() }}
            )                                               as u_shape_percentage,
            ---------- booleans
            is_first_touch,
            is_lead_creation_touch,
            is_form_submission_touch,
            is_deleted,
            is_duplicate,
            ---------- timestamps
            touchpoint_date,
            form_date,
            session_started_at,
            person_created_date
        from persons_flagged
    )

    select * from final
{% endmacro %}
