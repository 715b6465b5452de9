{{ config(materialized='table') }}

with

persons as (
    select * from {{ ref('int_persons_unioned') }}
),

final as (
    select
        ---------- ids
        person_id                   as id,
        account_id,
        other_system_id,
        ---------- strings
        email,
        lead_source,
        bizible_stage,
        source_system,
        ---------- booleans
        is_deleted,
        is_duplicate,
        ---------- timestamps
        created_date,
        modified_date
    from persons
    where person_type = 'contact'
)

select * from final
