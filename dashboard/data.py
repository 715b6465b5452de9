"""Every query the dashboard runs, over the snapshot that `dbt build` publishes (macros/dashboard_snapshot.sql).

The dashboard never opens the warehouse file: on DuckDB, any process holding it open, even read-only, makes
the next `dbt build` fail on the file lock. After each successful build, dbt writes the rpt_dashboard_*
relations as Parquet files into the snapshot folder and replaces `manifest.json` in one rename; this module
reads the manifest, prepares the build it names in an in-memory DuckDB (see _prepare_sql), and notices a new
manifest on the next page run (no restart). Files are never rewritten while a manifest names them, so a page
always shows one complete build.

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
PREPARE_MEMORY_LIMIT = os.environ.get("DASHBOARD_MEMORY_LIMIT", "2GB")


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


def published_build() -> Build:
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


# Each build is prepared once in an in-memory DuckDB: views over its Parquet files (src_*, for the Journey),
# and slim tables the other pages count on: the session's dimensions joined in, integer keys for what is
# counted distinct (visitors, persons, emails) and for landing pages and referrers (a distinct count over
# integers is several times faster than over strings, and no page query joins), and only the segment columns
# a category uses. A new build is prepared in the background while the previous one is still shown.
def _prepare_sql(categories: list[str]) -> list[tuple[list[str], str]]:
    """(relations needed, statements) to prepare a build whose segment categories are in `categories`."""
    segments = "".join(f", t.{c}" for c in categories)
    return [
        (
            ["sessions"],
            """
            create table pages as
            select row_number() over (order by landing_page, landing_page_title) as page_code, landing_page,
                landing_page_title
            from (select distinct landing_page, landing_page_title from src_sessions);
            create table referrers as
            select row_number() over (order by referrer_domain) as referrer_code, referrer_domain
            from (select distinct referrer_domain from src_sessions);
            create table channels as
            select row_number() over (order by channel, subchannel) as channel_code, channel, subchannel
            from (select distinct channel, subchannel from src_sessions);
            create temp table session_keys as
            select s.session_id, s.session_day, s.channel, s.subchannel, s.campaign, pages.page_code,
                referrers.referrer_code, channels.channel_code, visitors.visitor_key, s.page_view_count,
                s.form_submit_count
            from src_sessions as s
            inner join pages
                on s.landing_page is not distinct from pages.landing_page
                and s.landing_page_title is not distinct from pages.landing_page_title
            inner join referrers on s.referrer_domain is not distinct from referrers.referrer_domain
            inner join channels
                on s.channel = channels.channel and s.subchannel is not distinct from channels.subchannel
            inner join (
                select visitor_id, row_number() over () as visitor_key
                from (select distinct visitor_id from src_sessions)
            ) as visitors on s.visitor_id = visitors.visitor_id;
            create table sessions as
            select * exclude (session_id) from session_keys order by session_day;
            create table dimensions as select distinct channel, subchannel, campaign from session_keys;
            """,
        ),
        (
            ["sessions", "form_emails"],
            """
            create table form_emails as
            select s.session_day, s.channel, s.subchannel, s.campaign, s.page_code, s.referrer_code, s.channel_code,
                e.email_key
            from src_form_emails as f
            inner join session_keys as s on f.session_id = s.session_id
            inner join (
                select email, row_number() over () as email_key from (select distinct email from src_form_emails)
            ) as e on f.email = e.email;
            """,
        ),
        (
            ["sessions", "touchpoints"],
            f"""
            create table created as
            select s.session_day, s.channel, s.subchannel, s.campaign, s.page_code, s.referrer_code,
                s.channel_code{segments}
            from src_touchpoints as t
            inner join session_keys as s on t.session_id = s.session_id
            where t.is_reported and t.is_lead_creation_touch and t.is_form_submission_touch;
            """,
        ),
        (
            ["touchpoints"],
            f"""
            create table touchpoints as
            select t.touchpoint_day, t.channel, t.subchannel, t.campaign{segments}, t.first_click_percentage,
                t.last_anon_click_percentage, t.u_shape_percentage, k.person_key
            from src_touchpoints as t
            inner join (
                select source_system, person_id, row_number() over () as person_key
                from (select distinct source_system, person_id from src_touchpoints)
            ) as k on t.source_system = k.source_system and t.person_id = k.person_id
            where t.is_reported
            order by t.touchpoint_day;
            """,
        ),
        (
            ["persons", "touchpoints"],
            f"""
            create table persons as
            select t.source_system, t.person_type, t.created_day{segments}, t.is_duplicate, t.is_deleted,
                t.is_reported, t.is_counted, t.has_marketo_match, t.has_dangling_crm_id,
                coalesce(ft.channel, '{NO_TOUCHPOINT}') as first_touch_channel,
                ft.subchannel as first_touch_subchannel, ft.campaign as first_touch_campaign
            from src_persons as t
            left join (
                select source_system, person_id, channel, subchannel, campaign from src_touchpoints
                where is_first_touch
            ) as ft on t.source_system = ft.source_system and t.person_id = ft.person_id;
            """,
        ),
    ]


_prepared: dict[Build, duckdb.DuckDBPyConnection] = {}
_preparing: dict[Build, threading.Lock] = {}
_prepared_lock = threading.Lock()


def current_build(wait: bool = False) -> Build:
    """The build the pages show: the published one once it is prepared. Until then, the build shown before
    (its files are untouched by the next publish) while the new one is prepared in the background; with no
    build shown before, or with `wait`, it is prepared now."""
    latest = published_build()
    with _prepared_lock:
        if latest in _prepared:
            return latest
        shown = [b for b in _prepared if _folder(b) == _folder(latest)]
        start = bool(shown) and not wait and latest not in _preparing
        if start:
            _preparing[latest] = threading.Lock()
    if shown and not wait:
        if start:
            threading.Thread(target=_prepare, args=(latest,), name="prepare-build", daemon=True).start()
        return shown[-1]
    _prepare(latest)
    return latest


def _prepare(build: Build) -> None:
    with _prepared_lock:
        lock = _preparing.setdefault(build, threading.Lock())
    try:
        with lock:
            if build not in _prepared:
                con = _prepared_connection(build)
                with _prepared_lock:
                    # the build shown before stays for the pages still drawing it; the one before that goes
                    for stale in [b for b in _prepared if _folder(b) == _folder(build)][:-1]:
                        _prepared.pop(stale)
                    _prepared[build] = con
    except duckdb.Error as exc:
        raise NoData(f"The dashboard snapshot in `{_folder(build)}` cannot be read ({exc}); run `dbt build`.") from None
    finally:
        with _prepared_lock:
            _preparing.pop(build, None)


def _prepared_connection(build: Build) -> duckdb.DuckDBPyConnection:
    # no insertion order to keep; a cap so that two builds prepared side by side stay within reason
    con = duckdb.connect(config={"preserve_insertion_order": False, "memory_limit": PREPARE_MEMORY_LIMIT})
    present = {name for name in RELATIONS if dict(build.files).get(RELATIONS[name])}
    for name in present:
        view = name if name == "segment_names" else f"src_{name}"
        con.execute(f"create view {view} as select * from {build.relation_sql(name)}")
    categories = []
    if "segment_names" in present:
        used = con.execute("select distinct category_column from segment_names where is_active").fetchall()
        categories = sorted((c for (c,) in used if CATEGORY_COLUMN.match(c)), key=lambda c: int(c[8:]))
    for needs, sql in _prepare_sql(categories):
        if set(needs) <= present:
            con.execute(sql)
    con.execute("drop table if exists session_keys")
    return con


def _folder(build: Build) -> str:
    return str(Path(build.files[0][1][0]).parents[2]) if build.files else ""


def query(build: Build, sql: str, params: list | tuple = ()) -> pd.DataFrame:
    """Run `sql` with bound `params` on the build's prepared relations."""
    with _prepared_lock:
        con = _prepared.get(build)
    if con is None:
        _prepare(build)
        con = _prepared[build]
    cursor = con.cursor()
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


def _dimension_filters(w: _Where, f: Filters) -> None:
    w.values("channel", f.channels)
    w.values("subchannel", f.subchannels)
    w.values("campaign", f.campaigns)


def _segment_filters(w: _Where, f: Filters) -> None:
    for column, names in f.segments:
        w.values(column, names)


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
        "from dimensions order by all",
        [NONE, NONE],
    )
    categories: dict[str, dict] = {}
    for row in segments.itertuples():
        if CATEGORY_COLUMN.match(row.category_column):
            categories.setdefault(row.category_column, {"category": row.category, "segments": []})
            categories[row.category_column]["segments"].append(row.segment_name)
    return {"categories": categories, "dimensions": dims}


# ---------------------------------------------------------------- Engagement


def _touchpoints_where(f: Filters) -> _Where:
    """The reported touchpoints (the prepared table holds no others) that f selects."""
    w = _Where()
    w.dates("touchpoint_day", f)
    _segment_filters(w, f)
    _dimension_filters(w, f)
    return w


def engagement_totals(build: Build, f: Filters, model: str) -> dict:
    """Touchpoints, people touched, touchpoints per person and the model's credit, in f's period."""
    w = _touchpoints_where(f)
    df = query(
        build,
        f"select count(*) as touchpoints, count(distinct person_key) as people, "
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
        f"select {keys}, count(*) as touchpoints, count(distinct person_key) as people_touched, "
        f"sum({MODELS[model]}) / 100 as credit from touchpoints where {w.sql()} "
        f"group by all order by credit desc, touchpoints desc, {', '.join(columns)}",
        [NONE] * len(columns) + w.params,
    )


def _grain(grain: str) -> str:
    if grain not in GRAINS:
        raise ValueError(f"unknown grain {grain!r}")
    return grain


# ---------------------------------------------------------------- Web Traffic


def _total(column: str) -> str:
    """A sum of counts as a count (DuckDB sums bigints into 128-bit integers, which pandas turns into floats)."""
    return f"cast(coalesce(sum({column}), 0) as bigint)"


def _sessions_where(f: Filters) -> _Where:
    w = _Where()
    w.dates("session_day", f)
    _dimension_filters(w, f)
    return w


def _created_where(f: Filters) -> _Where:
    """Persons created from forms (the lead-creation touch is a form): on their session's day, with the
    session's dimensions and the person's segments."""
    w = _sessions_where(f)
    _segment_filters(w, f)
    return w


def web_totals(build: Build, f: Filters) -> dict:
    """Visits, visitors, page views, forms, unique emails from forms and persons created from forms."""
    w, wc = _sessions_where(f), _created_where(f)
    row = query(
        build,
        f"""
        with traffic as (
            select count(*) as visits, count(distinct visitor_key) as visitors,
                {_total("page_view_count")} as page_views, {_total("form_submit_count")} as forms
            from sessions where {w.sql()}
        ),
        emails as (select count(distinct email_key) as emails from form_emails where {w.sql()}),
        persons_created as (select count(*) as persons_created from created where {wc.sql()})
        select * from traffic, emails, persons_created
        """,
        w.params + w.params + wc.params,
    ).iloc[0]
    return {key: int(value) for key, value in row.items()}


def web_over_time(build: Build, f: Filters, grain: str) -> pd.DataFrame:
    """Visits, page views and forms by period (day, week, month)."""
    w = _sessions_where(f)
    return query(
        build,
        f"select cast(date_trunc('{_grain(grain)}', session_day) as date) as period, count(*) as visits, "
        f"{_total('page_view_count')} as page_views, {_total('form_submit_count')} as forms "
        f"from sessions where {w.sql()} group by all order by all",
        w.params,
    )


# what each web table is by: the key its rows are grouped on, and the columns it shows for the key
WEB_TABLES = {
    "landing page": (
        ["page_code"],
        "inner join pages on traffic.page_code = pages.page_code",
        ["pages.landing_page", "pages.landing_page_title"],
    ),
    "referrer": (
        ["referrer_code"],
        "inner join referrers on traffic.referrer_code = referrers.referrer_code",
        ["referrers.referrer_domain"],
    ),
    "channel": (
        ["channel_code"],
        "inner join channels on traffic.channel_code = channels.channel_code",
        ["channels.channel", "channels.subchannel"],
    ),
}


def web_table(build: Build, f: Filters, by: str) -> pd.DataFrame:
    """Page views, visits, visitors, forms, unique emails from forms and persons created from forms, by
    landing page (and title), referrer domain, or channel and subchannel."""
    keys, names, shown = WEB_TABLES[by]
    w, wc = _sessions_where(f), _created_where(f)
    key_list = ", ".join(keys)
    on = " and ".join(f"traffic.{k} is not distinct from {{other}}.{k}" for k in keys)
    return query(
        build,
        f"""
        with traffic as (
            select {key_list}, {_total("page_view_count")} as page_views, count(*) as visits,
                count(distinct visitor_key) as visitors, {_total("form_submit_count")} as forms
            from sessions where {w.sql()} group by all
        ),
        emails as (
            select {key_list}, count(distinct email_key) as emails from form_emails where {w.sql()} group by all
        ),
        persons_created as (
            select {key_list}, count(*) as persons_created from created where {wc.sql()} group by all
        )
        select {", ".join(f"coalesce({c}, ?) as {c.split('.')[1]}" for c in shown)},
            traffic.page_views, traffic.visits, traffic.visitors, traffic.forms,
            coalesce(emails.emails, 0) as emails, coalesce(persons_created.persons_created, 0) as persons_created
        from traffic
        {names}
        left join emails on {on.format(other="emails")}
        left join persons_created on {on.format(other="persons_created")}
        order by traffic.visits desc, {", ".join(c.split(".")[1] for c in shown)}
        """,
        w.params + w.params + wc.params + [NONE] * len(shown),
    )


# ---------------------------------------------------------------- New persons and Reconciliation


def _persons_sql(f: Filters, extra: str = "true") -> tuple[str, list]:
    """Persons created in f's period, in f's segments, whose first touch matches f's channel filters."""
    w = _Where()
    w.add(extra)
    w.dates("created_day", f)
    _segment_filters(w, f)
    w.values("first_touch_channel", f.channels)
    w.values("first_touch_subchannel", f.subchannels)
    w.values("first_touch_campaign", f.campaigns)
    return f"select * from persons where {w.sql()}", w.params


def new_persons_by_month(build: Build, f: Filters) -> pd.DataFrame:
    """New leads, contacts and persons by creation month × source system × first-touch channel."""
    sql, params = _persons_sql(f, "is_reported")
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
    sql, params = _persons_sql(f, "is_reported")
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
        f"{categories} from src_persons where email = ? order by source_system, person_id",
        [email],
    )
    # the snapshot's files are sorted by email and by visitor: a lookup by a literal value reads a row group
    visitors = query(build, "select distinct visitor_id from src_form_emails where email = ?", [email])
    ws = _sessions_where(f)
    ids = visitors["visitor_id"].tolist()
    sessions = query(
        build,
        "select session_started_at, channel, subchannel, campaign, landing_page, landing_page_title, "
        "referrer_domain, page_view_count, form_submit_count, session_id, visitor_id from src_sessions "
        f"where visitor_id in ({', '.join('?' for _ in ids) or 'null'}) and {ws.sql()} order by session_started_at",
        ids + ws.params,
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
        f"from src_touchpoints where {w.sql()} order by touchpoint_date, source_system, person_id",
        w.params,
    )
    return {"persons": persons, "sessions": sessions, "touchpoints": touchpoints}


def example_emails(build: Build, n: int = 3) -> list[str]:
    """A few emails with several touchpoints, to try the Journey page on."""
    df = query(
        build,
        "select email from src_touchpoints where is_reported group by email "
        "having count(*) >= 3 and bool_or(is_lead_creation_touch) order by count(*) desc, email limit ?",
        [n],
    )
    return df["email"].tolist()
