"""Reconciliation (B10): why the CRM's person count and the reports' differ, month by month."""

import altair as alt
import streamlit as st

from dashboard import data, ui

by_month = ui.cached(data.reconciliation_by_month)


def explain(totals: dict) -> str:
    """The period's counts in words."""
    t = {k: int(v) for k, v in totals.items()}
    lines = [
        f"The CRM holds **{t['crm_persons']:,}** persons created in this period; the reports count "
        f"**{t['report_persons']:,}**.",
        f"Marketo holds **{t['marketo_persons']:,}**: **{t['matched_marketo_persons']:,}** are synced to a CRM "
        f"record that is loaded (duplicates, counted once as their CRM record) and **{t['marketo_only_persons']:,}** "
        "are Marketo-only.",
        f"So the reports show every CRM person plus the Marketo-only ones: {t['crm_persons']:,} + "
        f"{t['marketo_only_persons']:,} = **{t['crm_persons'] + t['marketo_only_persons']:,}**.",
        f"**{t['crm_persons_with_marketo_match']:,}** CRM persons have a Marketo twin and "
        f"**{t['crm_only_persons']:,}** are CRM-only (each side counts in the month of its own creation, so the "
        "two sides of a pair can fall in different months).",
    ]
    if t["dangling_synced_ids"]:
        lines.append(
            f"Of the Marketo-only persons, **{t['dangling_synced_ids']:,}** carry a synced CRM id that names no "
            "loaded CRM record (the CRM is not loaded, or the record is outside the loaded window)."
        )
    if t["deleted_crm_persons"] or t["deleted_marketo_persons"]:
        lines.append(
            f"Deleted persons are left out: {t['deleted_crm_persons']:,} in the CRM and "
            f"{t['deleted_marketo_persons']:,} in Marketo."
        )
    return "\n".join(f"- {line}" for line in lines)


def draw(build: data.Build) -> None:
    f = ui.sidebar_filters(build, channel_label="First-touch channel", extra_channels=(data.NO_TOUCHPOINT,))
    df = by_month(build, f)
    if df.empty:
        st.info("No persons created in this period match these filters.")
        return
    totals = df.drop(columns="month").sum()
    ui.kpis(
        [
            ("CRM persons", int(totals["crm_persons"]), None, ",d"),
            ("Marketo persons", int(totals["marketo_persons"]), None, ",d"),
            ("Matched (duplicates)", int(totals["matched_marketo_persons"]), None, ",d"),
            ("Marketo-only", int(totals["marketo_only_persons"]), None, ",d"),
            ("In the reports", int(totals["report_persons"]), None, ",d"),
        ]
    )
    st.markdown(explain(totals.to_dict()))
    long = df.melt(
        "month",
        ["crm_persons", "marketo_persons", "report_persons"],
        var_name="count",
        value_name="persons",
    ).replace({"crm_persons": "CRM", "marketo_persons": "Marketo", "report_persons": "Reports"})
    st.subheader("Month by month")
    st.altair_chart(
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("yearmonth(month):O", title=None),
            xOffset=alt.XOffset("count:N", sort=["CRM", "Marketo", "Reports"]),
            y=alt.Y("persons:Q", title="Persons created"),
            color=alt.Color("count:N", title=None, sort=["CRM", "Marketo", "Reports"]),
            tooltip=["yearmonth(month):O", "count:N", "persons:Q"],
        )
        .properties(height=320),
        width="stretch",
    )
    ui.table(df, "persons_reconciliation", "csv_reconciliation")


build = ui.page(
    "Reconciliation",
    "Why the CRM's person count and the reports' differ (B10): CRM persons, Marketo persons, matched pairs and "
    "Marketo-only persons, each in the month of its own creation.",
)
if build:
    ui.guard(build, draw)
