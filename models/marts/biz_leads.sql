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
        converted_contact_id,
        other_system_id,
        ---------- strings
        email,
        website                     as web_site,
        company,
        lead_source,
        bizible_stage,
        source_system,
        ---------- booleans
        is_converted,
        is_deleted,
        is_duplicate,
        ---------- timestamps
        converted_date,
        created_date,
        modified_date
    from persons
    where person_type = 'lead'
)

select * from final
