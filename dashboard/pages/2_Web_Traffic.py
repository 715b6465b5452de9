"""Web Traffic: visits, visitors, page views, forms, emails and persons created, by page, referrer and channel."""

import altair as alt
import streamlit as st

from dashboard import data, ui

totals = ui.cached(data.web_totals)
over_time = ui.cached(data.web_over_time)
table = ui.cached(data.web_table)


def draw(build: data.Build) -> None:
    f = ui.sidebar_filters(build)
    now = totals(build, f)
    before = totals(build, f.previous()) if f.previous() else None
    ui.kpis(
        [
            (label, now[key], before and before[key], ",d")
            for label, key in [
                ("Visits", "visits"),
                ("Visitors", "visitors"),
                ("Page views", "page_views"),
                ("Forms", "forms"),
                ("Emails from forms", "emails"),
                ("Persons created", "persons_created"),
            ]
        ]
    )
    st.caption(
        "Emails from forms: distinct emails submitted. Persons created: persons whose lead-creation touch is a form "
        "they submitted. Visits are anonymous, so segment filters apply to the persons created only. Every measure "
        "counts on the day its session started."
    )
    if not now["visits"]:
        st.info("No visits match these filters in this period. Widen the date range or clear a filter.")
        return

    left, right = st.columns(2)
    with left:
        st.subheader("Visits over time")
        grain = ui.choice("Per", "web_grain", ["day", "week", "month"], "day")
        df = over_time(build, f, grain)
        long = df.rename(columns={"visits": "Visits", "page_views": "Page views", "forms": "Forms"}).melt(
            "period", ["Visits", "Page views", "Forms"], var_name="measure", value_name="count"
        )
        st.altair_chart(
            alt.Chart(long)
            .mark_line(point=grain != "day")
            .encode(
                x=alt.X("period:T", title=None),
                y=alt.Y("count:Q", title=None),
                color=alt.Color("measure:N", title=None),
                tooltip=["period:T", "measure:N", "count:Q"],
            )
            .properties(height=300),
            width="stretch",
        )
    channels = table(build, f, "channel")
    with right:
        st.subheader("Visits by channel and subchannel")
        st.caption("Each bar is split into its subchannels (hover for their numbers).")
        st.altair_chart(
            alt.Chart(channels)
            .mark_bar(stroke="white", strokeWidth=1)
            .encode(
                y=alt.Y("channel:N", sort="-x", title=None),
                x=alt.X("sum(visits):Q", title="Visits"),
                color=alt.Color("channel:N", scale=ui.channel_scale(channels["channel"]), legend=None),
                order=alt.Order("visits:Q", sort="descending"),
                tooltip=["channel:N", "subchannel:N", "visits:Q", "visitors:Q", "page_views:Q", "forms:Q"],
            )
            .properties(height=300),
            width="stretch",
        )
    st.subheader("By landing page")
    ui.table(
        table(build, f, "landing page"),
        "web_traffic_by_landing_page",
        "csv_landing_pages",
    )
    st.subheader("By referrer")
    ui.table(table(build, f, "referrer"), "web_traffic_by_referrer", "csv_referrers")
    st.subheader("By channel and subchannel")
    ui.table(channels, "web_traffic_by_channel", "csv_channels")


build = ui.page(
    "Web Traffic",
    "Sessions on the site from the tracker's page views and form submits, whoever the visitor is.",
)
if build:
    ui.guard(build, draw)
