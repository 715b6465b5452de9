"""New persons: leads and contacts by creation month, source system and first-touch channel."""

import altair as alt
import streamlit as st

from dashboard import data, ui

by_month = ui.cached(data.new_persons_by_month)
totals = ui.cached(data.new_persons_totals)


def draw(build: data.Build) -> None:
    f = ui.sidebar_filters(build, channel_label="First-touch channel", extra_channels=(data.NO_TOUCHPOINT,))
    now = totals(build, f)
    before = totals(build, f.previous()) if f.previous() else None
    ui.kpis(
        [
            ("New persons", now["persons"], before and before["persons"], ",d"),
            ("Leads", now["leads"], before and before["leads"], ",d"),
            ("Contacts", now["contacts"], before and before["contacts"], ",d"),
            ("No touchpoint", now["no_touchpoint_share"], before and before["no_touchpoint_share"], ".1%"),
        ]
    )
    st.caption(
        "Each person once, in the month it was created: a Marketo person synced to a loaded CRM record counts as "
        "the CRM record (B5). The channel filters apply to the person's first touch."
    )
    if not now["persons"]:
        st.info("No persons created in this period match these filters.")
        return
    df = by_month(build, f)
    st.subheader("New persons by month and first-touch channel")
    colors = ui.channel_scale(df["first_touch_channel"])
    top = df.groupby(["month", "source_system"])["new_persons"].sum().max()
    for column, system in zip(st.columns(2), ("Marketo", "Crm"), strict=True):
        part = df[df["source_system"] == system]
        with column:
            st.markdown(f"**{'CRM' if system == 'Crm' else system} persons**")
            if part.empty:
                st.caption(f"No {system} persons match these filters.")
                continue
            st.altair_chart(
                alt.Chart(part)
                .mark_bar()
                .encode(
                    x=alt.X("yearmonth(month):O", title=None),
                    y=alt.Y("sum(new_persons):Q", title="New persons", scale=alt.Scale(domain=[0, int(top)])),
                    color=alt.Color("first_touch_channel:N", scale=colors, title="First touch"),
                    tooltip=[
                        alt.Tooltip("yearmonth(month):O", title="Month"),
                        "first_touch_channel:N",
                        alt.Tooltip("new_persons:Q", format=","),
                    ],
                )
                .properties(height=320),
                width="stretch",
            )
    share = df.assign(no_touchpoint=df["new_persons"].where(df["first_touch_channel"] == data.NO_TOUCHPOINT, 0))
    share = share.groupby(["month", "source_system"], as_index=False)[["new_persons", "no_touchpoint"]].sum()
    share["no_touchpoint_share"] = share["no_touchpoint"] / share["new_persons"]
    st.subheader('"No touchpoint" share by month and source system')
    ui.table(
        share,
        "new_persons_no_touchpoint_share",
        "csv_share",
        {"no_touchpoint_share": st.column_config.NumberColumn("No touchpoint share", format="percent")},
    )
    st.subheader("By month, source system and first-touch channel")
    ui.table(df, "new_persons_by_month_source_channel", "csv_new_persons")


build = ui.page(
    "New persons",
    "Leads and contacts created in Marketo and the CRM, by the channel of their first touch.",
)
if build:
    ui.guard(build, draw)
