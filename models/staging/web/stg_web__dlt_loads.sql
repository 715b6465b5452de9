with

source as (
    select * from {{ source_columns('raw_web', '_dlt_loads', {
        'load_id': dbt.type_string(),
        'schema_name': dbt.type_string(),
        'status': dbt.type_int(),
        'inserted_at': type_timestamp_tz(),
    }) }} as dlt_loads
),

renamed as (
    select
        ---------- ids
        load_id,
        ---------- strings
        schema_name,
        ---------- numerics
        status,
        ---------- booleans
        -- dlt writes status 0 once every table of the load is committed; rows of other loads may be partial
        status = 0                                          as is_completed,
        ---------- timestamps
        {{ utc_timestamp('inserted_at') }}                  as inserted_at
    from source
)

select * from renamed
