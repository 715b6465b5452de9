{#-
    Optional email-only duplicate matching (var `crm_email_duplicate_matching`, off by default): a Marketo
    person that is not an id-duplicate but shares its email with a live CRM person. One row per such Marketo
    person, naming one CRM person (same person type first, then the most recently modified, then the
    smallest id). Reported on its own and in the `is_email_duplicate` columns; it never changes
    `is_duplicate`, which stays the sync-id rule of B5. Empty when the var is off.
-#}
with

marketo_persons as (
    select * from {{ ref('int_marketo_persons_resolved') }}
),

id_matches as (
    select * from {{ ref('int_marketo_persons_matched_to_crm') }}
),

crm_persons as (
    select * from {{ ref('int_crm_persons_unioned') }}
),

candidates as (
    select
        ---------- ids
        marketo_persons.person_id,
        crm_persons.person_id                                               as crm_person_id,
        ---------- strings
        marketo_persons.email,
        crm_persons.crm_system,
        crm_persons.person_type                                             as crm_person_type,
        ---------- numerics
        row_number() over (
            partition by marketo_persons.person_id
            order by
                case when crm_persons.person_type = marketo_persons.person_type then 0 else 1 end,
                crm_persons.modified_date desc nulls last,
                crm_persons.person_id
        )                                                                   as candidate_rank
    from marketo_persons
    inner join id_matches
        on marketo_persons.person_id = id_matches.person_id
    inner join crm_persons
        on marketo_persons.email = crm_persons.email
    where {{ '1 = 1' if var('crm_email_duplicate_matching', false) else '1 = 0' }}
        and not id_matches.is_duplicate
        and not crm_persons.is_deleted
),

final as (
    select
        person_id,
        crm_person_id,
        email,
        crm_system,
        crm_person_type
    from candidates
    where candidate_rank = 1
)

select * from final
