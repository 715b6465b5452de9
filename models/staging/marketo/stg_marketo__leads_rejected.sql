with

source as (
    select * from {{ source_columns('raw_marketo', 'leads_rejected', {
        'id': dbt.type_string(),
        '_rejected_reason': dbt.type_string(),
        '_read_at': type_timestamp_tz(),
    }) }} as leads_rejected
),

renamed as (
    select
        ---------- ids
        nullif(trim(id), '')                                as lead_id,
        ---------- strings
        _rejected_reason                                    as rejected_reason,
        ---------- timestamps
        -- when Marketo exported the quarantined row: the person was in Marketo then
        {{ utc_timestamp('_read_at') }}                     as read_at
    from source
)

select * from renamed
