"""Engagement: touchpoints, people touched and attributed credit, by channel and over time."""

import altair as alt
import streamlit as st

from dashboard import data, ui

totals = ui.cached(data.engagement_totals)
over_time = ui.cached(data.engagement_over_time)
by_level = ui.cached(data.engagement_by)


def draw(build: data.Build) -> None:
    f = ui.sidebar_filters(build)
    model = ui.choice("Attribution model", "model", list(data.MODELS), "U-Shaped")
    now = totals(build, f, model)
    before = totals(build, f.previous(), model) if f.previous() else None
    ui.kpis(
        [
            ("Touchpoints", now["touchpoints"], before and before["touchpoints"], ",d"),
            ("People touched", now["people"], before and before["people"], ",d"),
            ("Touchpoints per person", now["per_person"], before and before["per_person"], ".2f"),
            (f"{model} credit (persons)", now["credit"], before and before["credit"], ",.1f"),
        ]
    )
    if not now["touchpoints"]:
        st.info("No touchpoints match these filters in this period. Widen the date range or clear a filter.")
        return

    left, right = st.columns(2)
    with left:
        st.subheader("Touchpoints over time")
        grain = ui.choice("Per", "grain", ["month", "quarter", "year"], "month")
        df = over_time(build, f, grain, model)
        unit = {"month": "yearmonth", "quarter": "yearquarter", "year": "year"}[grain]
        st.altair_chart(
            alt.Chart(df)
            .mark_bar()
            .encode(
                x=alt.X(f"{unit}(period):O", title=None),
                y=alt.Y("sum(touchpoints):Q", title="Touchpoints"),
                color=alt.Color("channel:N", scale=ui.channel_scale(df["channel"]), title="Channel"),
                tooltip=[
                    alt.Tooltip(f"{unit}(period):O", title=grain.capitalize()),
                    "channel:N",
                    alt.Tooltip("touchpoints:Q", format=","),
                    alt.Tooltip("credit:Q", format=",.1f", title=f"{model} credit"),
                ],
            )
            .properties(height=320),
            width="stretch",
        )
    with right:
        st.subheader(f"{model} credit by channel")
        level = ui.choice("Drill to", "drill", list(data.DRILL_LEVELS), "Channel")
        by = by_level(build, f, level, model)
        label = {"Channel": "channel", "Subchannel": "subchannel", "Campaign": "campaign"}[level]
        st.altair_chart(
            alt.Chart(by.head(15))
            .mark_bar()
            .encode(
                y=alt.Y(f"{label}:N", sort="-x", title=level),
                x=alt.X("credit:Q", title="Credit (persons)"),
                color=alt.Color("channel:N", scale=ui.channel_scale(by["channel"]), legend=None),
                tooltip=list(by.columns),
            )
            .properties(height=320),
            width="stretch",
        )
    st.subheader(f"Touchpoints and {model} credit by {level.lower()}")
    ui.table(by, f"engagement_by_{label}", "csv_engagement")


build = ui.page(
    "Engagement",
    "Touchpoints of the persons the reports count (no duplicates or deleted persons by default), by the day they "
    "happened, and the credit each attribution model gives them (in persons).",
)
if build:
    ui.guard(build, draw)
