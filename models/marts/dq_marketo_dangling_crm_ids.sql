{#-
    Data quality: Marketo persons whose synced CRM id (the one their sync type selects) names no loaded CRM
    record. They are not duplicates (B5) and keep their own touchpoints; this lists them so the gap can be
    explained (CRM not loaded, record outside the loaded window, a stale sync). One row per Marketo person.
-#}
with

crm_matches as (
    select * from {{ ref('int_marketo_persons_matched_to_crm') }}
),

marketo_persons as (
    select * from {{ ref('int_marketo_persons_resolved') }}
),

final as (
    select
        ---------- ids
        crm_matches.person_id,
        crm_matches.crm_synced_id,
        ---------- strings
        crm_matches.crm_synced_system,
        crm_matches.crm_synced_type,
        crm_matches.dangling_reason,
        marketo_persons.email,
        marketo_persons.person_type,
        ---------- booleans
        marketo_persons.is_deleted,
        ---------- timestamps
        marketo_persons.modified_date
    from crm_matches
    inner join marketo_persons
        on crm_matches.person_id = marketo_persons.person_id
    where crm_matches.has_dangling_crm_id
)

select * from final
{{ unless_inputs_changed() }}
