"""Journey: one email's sessions and touchpoints on a timeline, with FT / LC / form flags and each model's credit."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, ui

journey = ui.cached(data.journey)
examples = ui.cached(data.example_emails)


def flags(row) -> str:
    marks = [("FT", row.is_first_touch), ("LC", row.is_lead_creation_touch), ("Form", row.is_form_submission_touch)]
    return " ".join(name for name, on in marks if on)


def milestones(row) -> str:
    """The chart's label: first touch and lead creation (a form shows as a filled diamond)."""
    return " ".join(name for name, on in [("FT", row.is_first_touch), ("LC", row.is_lead_creation_touch)] if on)


def person_label(row) -> str:
    system = "CRM" if row.source_system == "Crm" else row.source_system
    return f"{system} {row.person_type} {row.person_id}" + (" (duplicate)" if row.is_duplicate else "")


def timeline(sessions: pd.DataFrame, touchpoints: pd.DataFrame, persons: pd.DataFrame) -> alt.Chart:
    """Sessions on one row, each person's touchpoints on a row of its own."""
    labels = {(p.source_system, p.person_id): person_label(p) for p in persons.itertuples()}
    s = sessions.assign(row="Sessions", when=sessions["session_started_at"])
    t = touchpoints.assign(
        row=[labels.get((r.source_system, r.person_id), r.person_id) for r in touchpoints.itertuples()],
        when=touchpoints["touchpoint_date"],
        flags=[flags(r) for r in touchpoints.itertuples()],
        label=[milestones(r) for r in touchpoints.itertuples()],
    )
    colors = ui.channel_scale(pd.concat([s["channel"], t["channel"]]))
    y = alt.Y("row:N", title=None, sort=["Sessions", *labels.values()], axis=alt.Axis(labelLimit=320))
    x = alt.X("when:T", title=None)
    points = (
        alt.Chart(s)
        .mark_circle(size=90, opacity=0.8)
        .encode(
            x=x,
            y=y,
            color=alt.Color("channel:N", scale=colors, title="Channel"),
            tooltip=["when:T", "channel:N", "subchannel:N", "campaign:N", "landing_page:N", "page_view_count:Q"],
        )
    )
    touches = (
        alt.Chart(t)
        .mark_point(size=260, shape="diamond", strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=alt.Color("channel:N", scale=colors),
            fill=alt.condition(
                "datum.is_form_submission_touch", alt.Color("channel:N", scale=colors), alt.value("white")
            ),
            tooltip=[
                "when:T",
                "marketing_touch_type:N",
                "channel:N",
                "flags:N",
                alt.Tooltip("first_click_percentage:Q", title="First Touch %"),
                alt.Tooltip("last_anon_click_percentage:Q", title="Lead Creation %"),
                alt.Tooltip("u_shape_percentage:Q", title="U-Shaped %"),
            ],
        )
    )
    text = alt.Chart(t).mark_text(dy=-16, fontWeight="bold", fontSize=11).encode(x=x, y=y, text="label:N")
    return (points + touches + text).properties(height=90 + 60 * (1 + len(labels)))


def draw(build: data.Build) -> None:
    f = ui.sidebar_filters(build)
    tries = examples(build)
    email = ui.text(
        "Email",
        "email",
        placeholder="name@company.com" + (f" — for example {tries[0]}" if tries else ""),
    )
    if not data.normalize_email(email):
        st.info("Type an email to see its sessions and touchpoints." + (f" Try: {', '.join(tries)}." if tries else ""))
        return
    found = journey(build, email, f)
    persons, sessions, touchpoints = found["persons"], found["sessions"], found["touchpoints"]
    if persons.empty and sessions.empty and touchpoints.empty:
        st.info(f"No person, session or touchpoint has the email {data.normalize_email(email)} in this period.")
        return
    st.subheader("Persons with this email")
    if persons.empty:
        st.info("No Marketo or CRM person has this email: its sessions are anonymous web traffic.")
    else:
        named = {column: c["category"] for column, c in ui.filter_options(build)["categories"].items()}
        shown = persons.drop(columns=[c for c in persons.columns if c.startswith("category") and c not in named])
        ui.table(shown.rename(columns=named), "journey_persons", "csv_journey_persons")
    st.subheader("Timeline")
    st.caption(
        "Circles are the sessions of the email's visitors (cookies its forms link to it, B3); diamonds are each "
        "person's touchpoints, filled for a form, marked FT (first touch) and LC (lead creation). Only what the "
        "filters select is shown."
    )
    if sessions.empty and touchpoints.empty:
        st.info("No session or touchpoint of this email matches the filters; widen the date range.")
    else:
        st.altair_chart(timeline(sessions, touchpoints, persons), width="stretch")
    st.subheader("Touchpoints and each model's credit")
    shown = touchpoints.assign(flags=[flags(r) for r in touchpoints.itertuples()])
    ui.table(
        shown[
            [
                "touchpoint_date",
                "source_system",
                "person_id",
                "marketing_touch_type",
                "flags",
                "channel",
                "subchannel",
                "campaign",
                "landing_page",
                "first_click_percentage",
                "last_anon_click_percentage",
                "u_shape_percentage",
                "is_reported",
            ]
        ].rename(
            columns={
                "first_click_percentage": "first_touch_%",
                "last_anon_click_percentage": "lead_creation_%",
                "u_shape_percentage": "u_shaped_%",
            }
        ),
        "journey_touchpoints",
        "csv_journey_touchpoints",
    )
    st.subheader("Sessions")
    ui.table(sessions, "journey_sessions", "csv_journey_sessions")


build = ui.page(
    "Journey",
    "One person's path: the sessions of every visitor its email is linked to, and its touchpoints with the first "
    "touch (FT), lead-creation touch (LC), form flags and the credit each attribution model gives.",
)
if build:
    ui.guard(build, draw)
