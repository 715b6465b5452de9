{#- Channels, Marketo Measure's BIZ_CHANNELS: one row per channel the channel_rules seed can give. -#}
{{ config(materialized='table') }}

with

channel_rules as (
    select * from {{ ref('channel_rules') }}
),

final as (
    select
        ---------- ids
        lower(replace(channel, ' ', '_'))               as id,
        ---------- strings
        channel                                         as name,
        ---------- numerics
        min(priority)                                   as priority,
        count(*)                                        as rule_count,
        ---------- booleans
        false                                           as is_deleted
    from channel_rules
    group by channel
)

select * from final
