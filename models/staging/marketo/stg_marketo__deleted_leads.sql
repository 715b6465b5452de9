with

source as (
    select * from {{ source_columns('raw_marketo', 'deleted_leads', {
        'id': dbt.type_bigint(),
        'lead_id': dbt.type_bigint(),
        'activity_date': type_timestamp_tz(),
    }) }} as deleted_leads
),

renamed as (
    select
        ---------- ids
        cast(id as {{ dbt.type_string() }})                 as activity_id,
        cast(lead_id as {{ dbt.type_string() }})            as lead_id,
        ---------- timestamps
        {{ utc_timestamp('activity_date') }}                as deleted_at
    from source
)

select * from renamed
