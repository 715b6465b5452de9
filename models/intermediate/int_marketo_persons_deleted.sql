{#-
    Marketo persons that are gone from Marketo (B12), one row per landed person, found two ways:
      - a "Delete Lead" activity (activities/deletedleads.json); repeated deletes collapse to the first;
      - absent from a complete export. Marketo prunes delete activities after about 14 days, so a person deleted
        while no load ran is found by comparing a complete re-export with the landed persons: a complete export
        (stg_marketo__complete_exports: a pass of createdAt windows that exported every window, each file whole)
        read every person created in its range at read_from or later. A landed person of that range whose
        latest read (its row, its B9 company fields, or a quarantined row) is older than read_from was not in
        it. A pass that stopped part way records nothing, so it never flags anyone.
    A delete activity for an id that was never loaded is ignored.
-#}
with

leads as (
    select * from {{ ref('stg_marketo__leads') }}
),

company_fields as (
    select * from {{ ref('stg_marketo__lead_company_fields') }}
),

leads_rejected as (
    select * from {{ ref('stg_marketo__leads_rejected') }}
),

deleted_leads as (
    select * from {{ ref('stg_marketo__deleted_leads') }}
),

complete_exports as (
    select * from {{ ref('stg_marketo__complete_exports') }}
),

delete_activities as (
    select
        lead_id,
        min(deleted_at) as deleted_at
    from deleted_leads
    group by 1
),

-- each read of a person is proof that Marketo still had it then
reads as (
    select lead_id, read_at from leads
    union all
    select lead_id, read_at from company_fields
    union all
    select lead_id, read_at from leads_rejected
),

last_reads as (
    select
        lead_id,
        max(read_at) as last_read_at
    from reads
    group by 1
),

-- an export whose range a later complete export covers tells nothing the later one does not
deciding_exports as (
    select complete_exports.*
    from complete_exports
    where not exists (
        select 1
        from complete_exports as later_exports
        where later_exports.read_from > complete_exports.read_from
            and later_exports.created_from <= complete_exports.created_from
            and later_exports.created_to >= complete_exports.created_to
    )
),

absent_from_exports as (
    select
        leads.lead_id,
        -- deleted before this export finished: the first export that missed the person
        min(deciding_exports.completed_at)                                  as deleted_at
    from leads
    inner join deciding_exports
        on leads.created_at >= deciding_exports.created_from
        and leads.created_at <= deciding_exports.created_to
    left join last_reads
        on leads.lead_id = last_reads.lead_id
    where last_reads.last_read_at is null
        or last_reads.last_read_at < deciding_exports.read_from
    group by 1
),

found as (
    select lead_id, deleted_at, 1 as is_from_activity from delete_activities
    union all
    select lead_id, deleted_at, 0 as is_from_activity from absent_from_exports
),

final as (
    select
        ---------- ids
        found.lead_id,
        ---------- strings
        case
            when max(found.is_from_activity) = 1 then 'delete_activity'
            else 'absent_from_complete_export'
        end                                                                 as found_by,
        ---------- timestamps
        min(found.deleted_at)                                               as deleted_at
    from found
    inner join leads
        on found.lead_id = leads.lead_id
    group by 1
)

select * from final
