"""What every page shares: the sidebar filters (their state in the URL), cached queries, KPI tiles, tables with
a CSV download, and the messages shown instead of a traceback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import date, timedelta

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data

SHARED = "_dashboard_filters"  # filter values kept across pages (widget state is per page)


def cached(fn: Callable) -> Callable:
    """A data.* query cached per build and arguments: a page drawn again with the same filters, or by another
    user, does not query again; a new build has a new id, so its queries run afresh."""
    return st.cache_data(show_spinner=False, max_entries=2048)(fn)


filter_options = cached(data.filter_options)


def page(title: str, intro: str) -> data.Build | None:
    """Page set-up: title, the current build (or the message saying why there is none), and the sidebar."""
    st.set_page_config(page_title=f"{title} · Marketo people", layout="wide")
    st.title(title)
    st.caption(intro)
    try:
        build = data.current_build()
    except data.NoData as exc:
        st.warning(str(exc))
        return None
    st.session_state["_build_id"] = build.id
    st.session_state["_touched"] = []  # the settings this run drew: its URL and its ready mark
    st.session_state["_title"] = title
    # on a page's first run (a new session, or arriving from another page) the filters are seeded again: widget
    # state does not follow the user from page to page
    st.session_state["_fresh_page"] = st.session_state.get("_page") != title
    st.session_state["_page"] = title
    with st.sidebar:
        st.caption(f"Data: build of {build.built_at:%Y-%m-%d %H:%M} UTC · days in {build.reporting_timezone}")
        _watch_for_new_build()
    return build


@st.fragment(run_every="10s")
def _watch_for_new_build() -> None:
    """Redraws the page when dbt publishes a new build, so an open dashboard follows the pipeline."""
    try:
        latest = data.current_build().id
    except data.NoData:
        return
    if latest != st.session_state.get("_build_id"):
        st.rerun(scope="app")


def guard(build: data.Build, draw: Callable[[data.Build], None]) -> None:
    """Runs a page body (a NoData becomes a message on the page), then writes the page's state into its URL
    and draws the ready mark."""
    try:
        draw(build)
    except data.NoData as exc:
        st.warning(str(exc))
    write_url()
    ready(build)


# ---------------------------------------------------------------- URL state


def _url_list(key: str) -> list[str] | None:
    values = st.query_params.get_all(key)
    return list(values) if values else None


def _url_one(key: str) -> str | None:
    return st.query_params.get(key) or None


def _init(key: str, from_url, default) -> None:
    """Seeds a widget's value before it is drawn: from the URL on a page's first run, else from what the
    user chose on another page, else `default`."""
    shared = st.session_state.setdefault(SHARED, {})
    if key not in st.session_state or st.session_state.get("_fresh_page"):
        st.session_state[key] = from_url if from_url is not None else shared.get(key, default)


def _remember(keys: list[str]) -> None:
    shared = st.session_state.setdefault(SHARED, {})
    touched = st.session_state.setdefault("_touched", [])
    for key in keys:
        shared[key] = st.session_state[key]
        if key not in touched:
            touched.append(key)


def choice(label: str, key: str, options: list[str], default: str, horizontal: bool = True) -> str:
    """A page setting (model, grain, drill level) kept in the URL."""
    url = _url_one(key)
    _init(key, url if url in options else None, default)
    if st.session_state[key] not in options:
        st.session_state[key] = default
    value = st.radio(label, options, key=key, horizontal=horizontal)
    _remember([key])
    return value


def text(label: str, key: str, placeholder: str = "") -> str:
    _init(key, _url_one(key), "")
    value = st.text_input(label, key=key, placeholder=placeholder)
    _remember([key])
    return value


def _state() -> dict:
    """The settings this page run drew, with their values."""
    shared = st.session_state.get(SHARED, {})
    return {key: shared[key] for key in st.session_state.get("_touched", []) if key in shared}


def write_url() -> None:
    """The page's state as its URL's query string, so a view can be bookmarked and shared."""
    params: dict[str, str | list[str]] = {}
    for key, value in _state().items():
        if key == "dates":
            if _state().get("period") == "custom":
                params["from"], params["to"] = value[0].isoformat(), value[1].isoformat()
        elif isinstance(value, list):
            if value:
                params[key] = value
        elif value:
            params[key] = str(value)
    st.query_params.from_dict(params)


# ---------------------------------------------------------------- the sidebar


def sidebar_filters(build: data.Build, channel_label: str = "Channel", extra_channels: tuple[str, ...] = ()):
    """Date range, segments, channel, subchannel, campaign: the filters every page has."""
    options = filter_options(build)
    today = build.today()
    with st.sidebar:
        st.header("Filters")
        url_period = _url_one("period")
        _init("period", url_period if url_period in data.PERIODS else None, data.DEFAULT_PERIOD)
        period = st.selectbox("Date range", list(data.PERIODS), format_func=data.PERIODS.get, key="period")
        if period == "custom":
            default = data.period_range(data.DEFAULT_PERIOD, today)
            _init("dates", _url_dates(), default)
            picked = st.date_input("From – to", key="dates")
            start, end = picked if isinstance(picked, tuple | list) and len(picked) == 2 else default
            _remember(["dates"])
        else:
            bounds = data.period_range(period, today)
            start, end = bounds if bounds else (None, None)
        st.caption(_describe_range(start, end))

        segments = []
        for column, category in options["categories"].items():
            values = _multiselect(category["category"], column, category["segments"])
            if values:
                segments.append((column, tuple(values)))

        dims = options["dimensions"]
        channels = _multiselect(channel_label, "channel", sorted(set(dims["channel"]) | set(extra_channels)))
        if channels:
            dims = dims[dims["channel"].isin(channels)]
        subchannels = _multiselect("Subchannel", "subchannel", sorted(set(dims["subchannel"])))
        if subchannels:
            dims = dims[dims["subchannel"].isin(subchannels)]
        campaigns = _multiselect("Campaign", "campaign", sorted(set(dims["campaign"])))
        _remember(["period"])
    return data.Filters(
        start=start,
        end=end,
        segments=tuple(segments),
        channels=tuple(channels),
        subchannels=tuple(subchannels),
        campaigns=tuple(campaigns),
    )


def _url_dates() -> tuple[date, date] | None:
    try:
        start, end = date.fromisoformat(_url_one("from") or ""), date.fromisoformat(_url_one("to") or "")
    except ValueError:
        return None
    return (start, end) if start <= end else None


def _multiselect(label: str, key: str, options: list[str]) -> list[str]:
    _init(key, _url_list(key), [])
    # a value the data no longer has (or another channel's subchannel) is dropped, not an error
    st.session_state[key] = [v for v in st.session_state[key] if v in options]
    values = st.multiselect(label, options, key=key, placeholder="All")
    _remember([key])
    return values


def _describe_range(start: date | None, end: date | None) -> str:
    if start is None:
        return "Every day in the data"
    text = f"{start:%d %b %Y} – {end:%d %b %Y}"
    days = (end - start).days + 1
    before = start - timedelta(days=days)
    return text + f" · compared with {before:%d %b %Y} – {start - timedelta(days=1):%d %b %Y}"


# ---------------------------------------------------------------- drawing


def kpis(tiles: list[tuple[str, float | int | None, float | int | None, str]]) -> None:
    """KPI tiles: (label, value, previous period's value or None, format)."""
    compared = False
    for column, (label, value, previous, fmt) in zip(st.columns(len(tiles)), tiles, strict=True):
        shown = "–" if value is None else format(value, fmt)
        delta = None
        if value is not None and previous is not None:
            delta = format(value - previous, "+" + fmt)
            compared = True
        column.metric(label, shown, delta)
    if compared:
        st.caption("Changes are against the period of the same length just before (dates in the sidebar).")


def _label(column: str) -> str:
    words = column.replace("_", " ").capitalize().split(" ")
    return " ".join("CRM" if w.lower() == "crm" else w for w in words)


def table(df: pd.DataFrame, name: str, key: str, column_config: dict | None = None) -> None:
    """A table (readable headers, thousands separators, dates without a clock when they have none) and its
    CSV download (the columns' own names)."""
    config: dict = {}
    for column in df.columns:
        series = df[column]
        if column in ("month", "period"):
            config[column] = st.column_config.DateColumn(_label(column), format="MMM YYYY")
        elif pd.api.types.is_datetime64_any_dtype(series):
            config[column] = st.column_config.DatetimeColumn(_label(column), format="YYYY-MM-DD HH:mm")
        elif pd.api.types.is_bool_dtype(series):
            config[column] = st.column_config.CheckboxColumn(_label(column))
        elif pd.api.types.is_integer_dtype(series):
            config[column] = st.column_config.NumberColumn(_label(column), format="localized")
        elif pd.api.types.is_float_dtype(series):
            config[column] = st.column_config.NumberColumn(_label(column), format="%,.1f")
        else:
            # URLs are long: a medium column leaves the numbers in view (the cell shows the rest on hover)
            width = "medium" if column in ("landing_page", "referrer_page", "landing_page_title") else None
            config[column] = st.column_config.TextColumn(_label(column), width=width)
    config.update(column_config or {})
    st.dataframe(df, hide_index=True, column_config=config, width="stretch")
    st.download_button(
        "Download CSV",
        df.to_csv(index=False).encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        on_click="ignore",
    )


def ready(build: data.Build) -> None:
    """An invisible mark drawn last, naming the build and the page's state: the browser tests and the bench
    wait for it to carry the state they asked for before they look at the charts."""
    state = [st.session_state.get("_title"), _state()]
    token = hashlib.sha1(json.dumps(state, default=str, sort_keys=True).encode()).hexdigest()[:12]
    st.html(f'<div data-testid="dashboard-ready" data-build="{build.id}" data-state="{token}"></div>')


CHANNEL_COLORS = {
    "Paid Search": "#4c78a8",
    "Organic Search": "#72b7b2",
    "Paid Social": "#f58518",
    "Social": "#e45756",
    "Email": "#54a24b",
    "Display": "#b279a2",
    "Web Referral": "#eeca3b",
    "Direct": "#9d755d",
    "Other": "#bab0ac",
    data.NO_TOUCHPOINT: "#d9d9d9",
}


def channel_scale(channels) -> alt.Scale:
    """One color per channel, the same on every chart; the legend lists the channels shown."""
    present = set(channels)
    names = [c for c in CHANNEL_COLORS if c in present] + sorted(present - set(CHANNEL_COLORS))
    return alt.Scale(domain=names, range=[CHANNEL_COLORS.get(c, "#888888") for c in names])
