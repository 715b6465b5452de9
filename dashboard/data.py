"""Every query the dashboard runs, over the snapshot that `dbt build` publishes (macros/dashboard_snapshot.sql).

The dashboard never opens the warehouse file: on DuckDB, any process holding it open, even read-only, makes
the next `dbt build` fail on the file lock. After each successful build, dbt writes the rpt_dashboard_*
relations as Parquet files into the snapshot folder and replaces `manifest.json` in one rename; this module
reads the manifest, opens an in-memory DuckDB with one view per relation over the files it names, and
notices a new manifest on the next page run (no restart). Files are never rewritten while a manifest names
them, so a page always shows one complete build.

Env: DASHBOARD_SNAPSHOT_DIR (default `<DUCKDB_PATH>.dashboard`), DUCKDB_PATH (default `warehouse.duckdb`).

Every value a user chooses reaches SQL as a bound parameter; the only names spliced into SQL are column
names from fixed lists here (segment columns are checked against `category1`..`category15`).

On another warehouse (Postgres, Spark) there is no lock to avoid, and the rpt_dashboard_* views can be read
in place: give `Build.relation_sql` the warehouse's relation names (DuckDB's postgres extension can ATTACH a
Postgres database read-only and run these same queries).
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pandas as pd

# the snapshot's relations, by the name the queries below use
RELATIONS = {
    "touchpoints": "rpt_dashboard_touchpoints",
    "sessions": "rpt_dashboard_sessions",
    "form_emails": "rpt_dashboard_form_emails",
    "persons": "rpt_dashboard_persons",
    "segment_names": "biz_segment_names",
}
NONE = "(none)"  # how a missing subchannel, campaign or referrer shows in the filters and tables
NO_TOUCHPOINT = "No touchpoint"
CATEGORY_COLUMN = re.compile(r"^category([1-9]|1[0-5])$")

MODELS = {
    "First Touch": "first_click_percentage",
    "Lead Creation": "last_anon_click_percentage",
    "U-Shaped": "u_shape_percentage",
}
GRAINS = ("day", "week", "month", "quarter", "year")


class NoData(Exception):
    """Nothing to show, and what to do about it (shown on the page instead of a traceback)."""


# ---------------------------------------------------------------- the snapshot


def snapshot_dir() -> Path:
    configured = os.environ.get("DASHBOARD_SNAPSHOT_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("DUCKDB_PATH", "warehouse.duckdb") + ".dashboard")


@dataclass(frozen=True)
class Build:
    """One published build: its id and time, and the Parquet files of each relation."""

    id: str
    built_at: datetime
    reporting_timezone: str
    publish_seconds: float
    files: tuple[tuple[str, tuple[str, ...]], ...] = field(repr=False)

    def relation_sql(self, name: str) -> str:
        files = dict(self.files).get(RELATIONS[name])
        if not files:
            raise NoData(
                f"The dashboard snapshot has no `{RELATIONS[name]}`: it was published by an older version of "
                "the project. Run `dbt build` once to publish it again."
            )
        # the folders are named like hive partitions (relation=.../part=...); they are not columns
        return "read_parquet([" + ", ".join(_sql_string(f) for f in files) + "], hive_partitioning = false)"

    def today(self) -> date:
        return datetime.now(ZoneInfo(self.reporting_timezone)).date()


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_manifest_lock = threading.Lock()
_manifest_cache: dict[str, tuple[tuple, Build]] = {}


def current_build() -> Build:
    """The build the manifest names now. Re-read only when the manifest file changed (a stat per call)."""
    folder = snapshot_dir()
    path = folder / "manifest.json"
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NoData(
            f"No dashboard data yet: nothing is published in `{folder}`. After each successful `dbt build`, dbt "
            "publishes what the dashboard shows there. Run `make demo`, or `dbt build` on your warehouse, with "
            "the same DUCKDB_PATH (or DASHBOARD_SNAPSHOT_DIR) as this dashboard."
        ) from None
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    with _manifest_lock:
        cached = _manifest_cache.get(str(path))
        if cached and cached[0] == key:
            return cached[1]
        try:
            parts = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise NoData(
                f"The dashboard snapshot's manifest `{path}` cannot be read ({exc}); run `dbt build`."
            ) from None
        if not parts:
            raise NoData(f"The dashboard snapshot in `{folder}` is empty; run `dbt build`.")
        files: dict[str, list[str]] = {}
        for part in sorted(parts, key=lambda p: (p["relation"], p["part"])):
            files.setdefault(part["relation"], []).append(str(folder / part["file"]))
        head = parts[0]
        build = Build(
            id=head["build_id"],
            built_at=datetime.strptime(head["built_at"], "%Y-%m-%dT%H:%M:%SZ"),
            reporting_timezone=head.get("reporting_timezone") or "UTC",
            publish_seconds=float(head.get("publish_seconds") or 0),
            files=tuple((name, tuple(paths)) for name, paths in sorted(files.items())),
        )
        _manifest_cache[str(path)] = (key, build)
        return build


_connections: dict[Build, duckdb.DuckDBPyConnection] = {}
_connections_lock = threading.Lock()


def _connection(build: Build) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per relation of `build`, kept while the build is current."""
    with _connections_lock:
        con = _connections.get(build)
        if con is None:
            con = duckdb.connect()
            for name in RELATIONS:
                if dict(build.files).get(RELATIONS[name]):
                    con.execute(f"create view {name} as select * from {build.relation_sql(name)}")
            # one build per snapshot folder is current; an older one's files are about to be rewritten
            folder = _folder(build)
            for stale in [b for b in _connections if b != build and _folder(b) == folder]:
                _connections.pop(stale)  # closed when its last cursor is done
            _connections[build] = con
        return con


def _folder(build: Build) -> str:
    return str(Path(build.files[0][1][0]).parents[2]) if build.files else ""


def query(build: Build, sql: str, params: list | tuple = ()) -> pd.DataFrame:
    """Run `sql` with bound `params` on the build's relations. A file that cannot be read (a later build
    replaced it while this page was drawn: two builds within one page run) gets one retry on fresh views."""
    try:
        return _execute(build, sql, params)
    except (duckdb.IOException, duckdb.InvalidInputException):
        with _connections_lock:
            _connections.pop(build, None)
        try:
            return _execute(build, sql, params)
        except (duckdb.IOException, duckdb.InvalidInputException):
            raise NoData("The dashboard snapshot changed while this page was drawn; reload the page.") from None


def _execute(build: Build, sql: str, params: list | tuple) -> pd.DataFrame:
    cursor = _connection(build).cursor()
    try:
        return cursor.execute(sql, list(params)).df()
    except duckdb.CatalogException as exc:
        raise NoData(
            f"The dashboard snapshot lacks a relation this page reads ({exc}); it was published by an older "
            "version of the project. Run `dbt build` once to publish it again."
        ) from None
    finally:
        cursor.close()


# ---------------------------------------------------------------- filters


PERIODS = {
    "last_7_days": "Last 7 days",
    "last_30_days": "Last 30 days",
    "last_90_days": "Last 90 days",
    "last_12_months": "Last 12 months",
    "this_month": "This month",
    "last_month": "Last month",
    "this_quarter": "This quarter",
    "last_quarter": "Last quarter",
    "this_year": "This year",
    "last_year": "Last year",
    "all_time": "All time",
    "custom": "Custom range",
}
DEFAULT_PERIOD = "last_90_days"


def period_range(period: str, today: date) -> tuple[date, date] | None:
    """(first day, last day), both included, of a relative period; None for all time."""

    def quarter_start(d: date) -> date:
        return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)

    def months_back(d: date, n: int) -> date:
        month = d.month - 1 - n
        return date(d.year + month // 12, month % 12 + 1, 1)

    if period == "last_7_days":
        return today - timedelta(days=6), today
    if period == "last_30_days":
        return today - timedelta(days=29), today
    if period == "last_90_days":
        return today - timedelta(days=89), today
    if period == "last_12_months":
        return months_back(today, 11), today
    if period == "this_month":
        return today.replace(day=1), today
    if period == "last_month":
        start = months_back(today, 1)
        return start, today.replace(day=1) - timedelta(days=1)
    if period == "this_quarter":
        return quarter_start(today), today
    if period == "last_quarter":
        end = quarter_start(today) - timedelta(days=1)
        return quarter_start(end), end
    if period == "this_year":
        return date(today.year, 1, 1), today
    if period == "last_year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    if period == "all_time":
        return None
    raise ValueError(f"unknown period {period!r}; one of {', '.join(PERIODS)}")


@dataclass(frozen=True)
class Filters:
    """What the sidebar selects. Empty tuples select everything; NONE selects the missing value."""

    start: date | None = None  # None: all time
    end: date | None = None
    segments: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (category column, segment names)
    channels: tuple[str, ...] = ()
    subchannels: tuple[str, ...] = ()
    campaigns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for column, _ in self.segments:
            if not CATEGORY_COLUMN.match(column):
                raise ValueError(f"not a segment column: {column!r}")

    def previous(self) -> Filters | None:
        """The same filters over the period of the same length just before; None for all time."""
        if self.start is None or self.end is None:
            return None
        days = (self.end - self.start).days + 1
        return Filters(
            self.start - timedelta(days=days),
            self.start - timedelta(days=1),
            self.segments,
            self.channels,
            self.subchannels,
            self.campaigns,
        )


class _Where:
    """A conjunction of conditions with their parameters, in order."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list = []

    def add(self, condition: str, *params) -> None:
        self.conditions.append(condition)
        self.params.extend(params)

    def values(self, column: str, values: tuple[str, ...]) -> None:
        if not values:
            return
        real = [v for v in values if v != NONE]
        parts = []
        if real:
            parts.append(f"{column} in ({', '.join('?' for _ in real)})")
        if NONE in values:
            parts.append(f"{column} is null")
        self.add("(" + " or ".join(parts) + ")", *real)

    def dates(self, column: str, f: Filters) -> None:
        if f.start is not None:
            self.add(f"{column} >= ?", f.start)
        if f.end is not None:
            self.add(f"{column} <= ?", f.end)

    def sql(self) -> str:
        return " and ".join(self.conditions) if self.conditions else "true"


def _dimension_filters(w: _Where, f: Filters, prefix: str = "") -> None:
    w.values(prefix + "channel", f.channels)
    w.values(prefix + "subchannel", f.subchannels)
    w.values(prefix + "campaign", f.campaigns)


def _segment_filters(w: _Where, f: Filters, prefix: str = "") -> None:
    for column, names in f.segments:
        w.values(prefix + column, names)


def filter_options(build: Build) -> dict:
    """The values the sidebar offers: active segment categories and their segments, and the channel ×
    subchannel × campaign combinations the sessions have."""
    segments = query(
        build,
        "select category, category_column, segment_name from segment_names where is_active "
        "order by category_column, priority, segment_name",
    )
    dims = query(
        build,
        "select distinct channel, coalesce(subchannel, ?) as subchannel, coalesce(campaign, ?) as campaign "
        "from sessions order by all",
        [NONE, NONE],
    )
    categories: dict[str, dict] = {}
    for row in segments.itertuples():
        if CATEGORY_COLUMN.match(row.category_column):
            categories.setdefault(row.category_column, {"category": row.category, "segments": []})
            categories[row.category_column]["segments"].append(row.segment_name)
    return {"categories": categories, "dimensions": dims}


# ---------------------------------------------------------------- Engagement


def _touchpoints_where(f: Filters, alias: str = "") -> _Where:
    prefix = alias + "." if alias else ""
    w = _Where()
    w.add(f"{prefix}is_reported")
    w.dates(prefix + "touchpoint_day", f)
    _segment_filters(w, f, prefix)
    _dimension_filters(w, f, prefix)
    return w


def engagement_totals(build: Build, f: Filters, model: str) -> dict:
    """Touchpoints, people touched, touchpoints per person and the model's credit, in f's period."""
    w = _touchpoints_where(f)
    df = query(
        build,
        f"select count(*) as touchpoints, count(distinct (source_system, person_id)) as people, "
        f"coalesce(sum({MODELS[model]}) / 100, 0) as credit from touchpoints where {w.sql()}",
        w.params,
    )
    row = df.iloc[0]
    touchpoints, people = int(row["touchpoints"]), int(row["people"])
    return {
        "touchpoints": touchpoints,
        "people": people,
        "per_person": touchpoints / people if people else None,
        "credit": float(row["credit"]),
    }


def engagement_over_time(build: Build, f: Filters, grain: str, model: str) -> pd.DataFrame:
    """Touchpoints and credit by period (grain) and channel."""
    w = _touchpoints_where(f)
    return query(
        build,
        f"select cast(date_trunc('{_grain(grain)}', touchpoint_day) as date) as period, channel, "
        f"count(*) as touchpoints, sum({MODELS[model]}) / 100 as credit "
        f"from touchpoints where {w.sql()} group by all order by all",
        w.params,
    )


DRILL_LEVELS = {"Channel": ["channel"], "Subchannel": ["channel", "subchannel"], "Campaign": ["channel", "campaign"]}


def engagement_by(build: Build, f: Filters, level: str, model: str) -> pd.DataFrame:
    """Touchpoints, people touched and credit by channel, channel × subchannel or channel × campaign."""
    columns = DRILL_LEVELS[level]
    keys = ", ".join(f"coalesce({c}, ?) as {c}" for c in columns)
    w = _touchpoints_where(f)
    return query(
        build,
        f"select {keys}, count(*) as touchpoints, count(distinct (source_system, person_id)) as people_touched, "
        f"sum({MODELS[model]}) / 100 as credit from touchpoints where {w.sql()} "
        f"group by all order by credit desc, touchpoints desc, {', '.join(columns)}",
        [NONE] * len(columns) + w.params,
    )


def _grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}")
    return grain


# ---------------------------------------------------------------- Web Traffic


def _sessions_where(f: Filters, alias: str = "") -> _Where:
    prefix = alias + "." if alias else ""
    w = _Where()
    w.dates(prefix + "session_day", f)
    _dimension_filters(w, f, prefix)
    return w


def _created_where(f: Filters) -> _Where:
    """Persons created from forms: the lead-creation touch is a form, counted on its session's day, with the
    session's dimensions and the person's segments."""
    w = _sessions_where(f, "s")
    w.add("t.is_reported and t.is_lead_creation_touch and t.is_form_submission_touch")
    _segment_filters(w, f, "t.")
    return w


def web_totals(build: Build, f: Filters) -> dict:
    """Visits, visitors, page views, forms, unique emails from forms and persons created from forms."""
    w = _sessions_where(f)
    visits = query(
        build,
        "select count(*) as visits, count(distinct visitor_id) as visitors, "
        "coalesce(sum(page_view_count), 0) as page_views, coalesce(sum(form_submit_count), 0) as forms "
        f"from sessions where {w.sql()}",
        w.params,
    ).iloc[0]
    ws = _sessions_where(f, "s")
    emails = query(
        build,
        "select count(distinct e.email) as emails from form_emails as e "
        f"inner join sessions as s on e.session_id = s.session_id where {ws.sql()}",
        ws.params,
    ).iloc[0]
    wc = _created_where(f)
    created = query(
        build,
        "select count(*) as created from touchpoints as t "
        f"inner join sessions as s on t.session_id = s.session_id where {wc.sql()}",
        wc.params,
    ).iloc[0]
    return {
        "visits": int(visits["visits"]),
        "visitors": int(visits["visitors"]),
        "page_views": int(visits["page_views"]),
        "forms": int(visits["forms"]),
        "emails": int(emails["emails"]),
        "persons_created": int(created["created"]),
    }


def web_over_time(build: Build, f: Filters, grain: str) -> pd.DataFrame:
    """Visits, page views and forms by period (day, week, month)."""
    w = _sessions_where(f)
    return query(
        build,
        f"select cast(date_trunc('{_grain(grain)}', session_day) as date) as period, count(*) as visits, "
        "sum(page_view_count) as page_views, sum(form_submit_count) as forms "
        f"from sessions where {w.sql()} group by all order by all",
        w.params,
    )


def _web_table(build: Build, f: Filters, keys: list[str]) -> pd.DataFrame:
    """The web measures by `keys` (session columns): page views, visits, visitors, forms, unique emails from
    forms and persons created from forms."""
    ws = _sessions_where(f, "s")
    wc = _created_where(f)
    key_sql = ", ".join(f"coalesce(s.{k}, ?) as {k}" for k in keys)
    n = [NONE] * len(keys)
    return query(
        build,
        f"""
        with traffic as (
            select {key_sql}, sum(s.page_view_count) as page_views, count(*) as visits,
                count(distinct s.visitor_id) as visitors, sum(s.form_submit_count) as forms
            from sessions as s where {ws.sql()} group by all
        ),
        emails as (
            select {key_sql}, count(distinct e.email) as emails
            from form_emails as e inner join sessions as s on e.session_id = s.session_id
            where {ws.sql()} group by all
        ),
        created as (
            select {key_sql}, count(*) as persons_created
            from touchpoints as t inner join sessions as s on t.session_id = s.session_id
            where {wc.sql()} group by all
        )
        select traffic.*, coalesce(emails.emails, 0) as emails,
            coalesce(created.persons_created, 0) as persons_created
        from traffic
        left join emails on {_join(keys, "emails")}
        left join created on {_join(keys, "created")}
        order by visits desc, {", ".join(f"traffic.{k}" for k in keys)}
        """,
        n + ws.params + n + ws.params + n + wc.params,
    )


def _join(keys: list[str], other: str) -> str:
    return " and ".join(f"traffic.{k} = {other}.{k}" for k in keys)


def web_by_landing_page(build: Build, f: Filters) -> pd.DataFrame:
    return _web_table(build, f, ["landing_page", "landing_page_title"])


def web_by_referrer(build: Build, f: Filters) -> pd.DataFrame:
    return _web_table(build, f, ["referrer_domain"])


def web_by_channel(build: Build, f: Filters) -> pd.DataFrame:
    return _web_table(build, f, ["channel", "subchannel"])


# ---------------------------------------------------------------- New persons and Reconciliation


def _persons_sql(f: Filters, extra: str = "true") -> tuple[str, list]:
    """Persons created in f's period, in f's segments, whose first touch matches f's channel filters, with
    the first touch's channel (`No touchpoint` without one)."""
    w = _Where()
    w.add(extra)
    w.dates("p.created_day", f)
    _segment_filters(w, f, "p.")
    w.values("coalesce(ft.channel, '" + NO_TOUCHPOINT + "')", f.channels)
    w.values("ft.subchannel", f.subchannels)
    w.values("ft.campaign", f.campaigns)
    sql = f"""
        select p.*, coalesce(ft.channel, '{NO_TOUCHPOINT}') as first_touch_channel,
            ft.subchannel as first_touch_subchannel, ft.campaign as first_touch_campaign
        from persons as p
        left join (
            select source_system, person_id, channel, subchannel, campaign from touchpoints where is_first_touch
        ) as ft on p.source_system = ft.source_system and p.person_id = ft.person_id
        where {w.sql()}
    """
    return sql, w.params


def new_persons_by_month(build: Build, f: Filters) -> pd.DataFrame:
    """New leads, contacts and persons by creation month × source system × first-touch channel."""
    sql, params = _persons_sql(f, "p.is_reported")
    return query(
        build,
        f"""
        select cast(date_trunc('month', created_day) as date) as month, source_system, first_touch_channel,
            count(*) filter (where person_type = 'lead') as new_leads,
            count(*) filter (where person_type = 'contact') as new_contacts,
            count(*) as new_persons
        from ({sql}) group by all order by all
        """,
        params,
    )


def new_persons_totals(build: Build, f: Filters) -> dict:
    sql, params = _persons_sql(f, "p.is_reported")
    row = query(
        build,
        f"select count(*) as persons, count(*) filter (where person_type = 'lead') as leads, "
        f"count(*) filter (where person_type = 'contact') as contacts, "
        f"count(*) filter (where first_touch_channel = '{NO_TOUCHPOINT}') as no_touchpoint from ({sql})",
        params,
    ).iloc[0]
    persons = int(row["persons"])
    return {
        "persons": persons,
        "leads": int(row["leads"]),
        "contacts": int(row["contacts"]),
        "no_touchpoint": int(row["no_touchpoint"]),
        "no_touchpoint_share": int(row["no_touchpoint"]) / persons if persons else None,
    }


RECONCILIATION_COLUMNS = {
    "crm_persons": "is_counted and source_system = 'Crm'",
    "crm_persons_with_marketo_match": "is_counted and source_system = 'Crm' and has_marketo_match",
    "crm_only_persons": "is_counted and source_system = 'Crm' and not has_marketo_match",
    "marketo_persons": "is_counted and source_system = 'Marketo'",
    "matched_marketo_persons": "is_counted and source_system = 'Marketo' and is_duplicate",
    "marketo_only_persons": "is_counted and source_system = 'Marketo' and not is_duplicate",
    "dangling_synced_ids": "is_counted and source_system = 'Marketo' and has_dangling_crm_id",
    "report_persons": "is_reported",
    "deleted_crm_persons": "is_deleted and source_system = 'Crm'",
    "deleted_marketo_persons": "is_deleted and source_system = 'Marketo'",
}


def reconciliation_by_month(build: Build, f: Filters) -> pd.DataFrame:
    """B10 by creation month: rpt_persons_reconciliation's columns over the persons the filters select."""
    sql, params = _persons_sql(f)
    counts = ", ".join(f"count(*) filter (where {cond}) as {name}" for name, cond in RECONCILIATION_COLUMNS.items())
    return query(
        build,
        f"select cast(date_trunc('month', created_day) as date) as month, {counts} "
        f"from ({sql}) group by all order by all",
        params,
    )


# ---------------------------------------------------------------- Journey


def normalize_email(text: str) -> str:
    return (text or "").strip().lower()


def journey(build: Build, email: str, f: Filters) -> dict[str, pd.DataFrame]:
    """One email's persons, and the sessions and touchpoints of its visitors (B3) that f selects."""
    email = normalize_email(email)
    categories = ", ".join(f"category{i}" for i in range(1, 16))
    persons = query(
        build,
        "select source_system, person_type, person_id, created_date, is_duplicate, is_deleted, other_system_id, "
        f"{categories} from persons where email = ? order by source_system, person_id",
        [email],
    )
    ws = _sessions_where(f, "s")
    sessions = query(
        build,
        "select s.session_started_at, s.channel, s.subchannel, s.campaign, s.landing_page, s.landing_page_title, "
        "s.referrer_domain, s.page_view_count, s.form_submit_count, s.session_id, s.visitor_id from sessions as s "
        "where s.visitor_id in (select visitor_id from form_emails where email = ?) and "
        f"{ws.sql()} order by s.session_started_at",
        [email] + ws.params,
    )
    w = _Where()
    w.add("email = ?", email)
    w.dates("touchpoint_day", f)
    _dimension_filters(w, f)
    touchpoints = query(
        build,
        "select touchpoint_date, source_system, person_id, marketing_touch_type, channel, subchannel, campaign, "
        "landing_page, is_first_touch, is_lead_creation_touch, is_form_submission_touch, "
        "first_click_percentage, last_anon_click_percentage, u_shape_percentage, is_reported, session_id "
        f"from touchpoints where {w.sql()} order by touchpoint_date, source_system, person_id",
        w.params,
    )
    return {"persons": persons, "sessions": sessions, "touchpoints": touchpoints}


def example_emails(build: Build, n: int = 3) -> list[str]:
    """A few emails with several touchpoints, to try the Journey page on."""
    df = query(
        build,
        "select email from touchpoints where is_reported group by email "
        "having count(*) >= 3 and bool_or(is_lead_creation_touch) order by count(*) desc, email limit ?",
        [n],
    )
    return df["email"].tolist()
