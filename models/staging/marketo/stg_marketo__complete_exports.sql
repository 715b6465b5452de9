with

source as (
    select * from {{ source_columns('raw_marketo', 'complete_exports', {
        'export': dbt.type_string(),
        'landed_in': dbt.type_string(),
        'created_from': type_timestamp_tz(),
        'created_to': type_timestamp_tz(),
        'read_from': type_timestamp_tz(),
        'completed_at': type_timestamp_tz(),
    }) }} as complete_exports
),

renamed as (
    select
        ---------- strings
        export                                              as export_name,
        landed_in,
        ---------- timestamps
        {{ utc_timestamp('created_from') }}                 as created_from,
        {{ utc_timestamp('created_to') }}                   as created_to,
        -- the earliest export job start of the pass (Marketo's clock): every person it read was read since
        {{ utc_timestamp('read_from') }}                    as read_from,
        {{ utc_timestamp('completed_at') }}                 as completed_at
    from source
)

select * from renamed
