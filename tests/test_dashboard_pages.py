"""Every dashboard page in Streamlit's AppTest, over the demo's warehouse (built by the real pipeline): each
filter is changed, and the page's numbers must be what an independent SQL query on the marts (biz_*, rpt_*)
says — not a query of the dashboard's own. Then the pages with no snapshot, with a snapshot that lacks a
relation, and with filters that match nothing: a message, never a traceback."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from tests.support import REPO, query

MAIN = REPO / "dashboard" / "Engagement.py"
PAGES = {
    "Engagement": None,
    "Web Traffic": "pages/2_Web_Traffic.py",
    "New persons": "pages/3_New_Persons.py",
    "Reconciliation": "pages/4_Reconciliation.py",
    "Journey": "pages/5_Journey.py",
}
REPORTED = "not t.is_duplicate and not t.is_deleted"


@pytest.fixture
def page(demo, monkeypatch):
    """Opens a page of the dashboard over `db` (the demo's by default) with URL query parameters."""
    monkeypatch.delenv("DASHBOARD_SNAPSHOT_DIR", raising=False)

    def open_page(name: str, db: Path = demo.db, **params) -> AppTest:
        monkeypatch.setenv("DUCKDB_PATH", str(db))
        at = AppTest.from_file(str(MAIN), default_timeout=60)
        at.query_params.update(params)
        if PAGES[name]:
            at.run()
            at.switch_page(PAGES[name])
        return run(at)

    return open_page


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metrics(at: AppTest) -> dict[str, float]:
    return {m.label: float(m.value.replace(",", "").rstrip("%")) for m in at.metric if m.value != "–"}


def chart_data(at: AppTest, index: int):
    proto = at.get("vega_lite_chart")[index].proto
    return pa.ipc.open_stream(proto.datasets[0].data.data).read_all().to_pandas()


def today() -> date:
    return datetime.now(UTC).date()


def sql_in(column: str, values: list[str]) -> tuple[str, list]:
    return f"{column} in ({', '.join('?' for _ in values)})", list(values)


def where(conditions: list[tuple[str, list]]) -> tuple[str, list]:
    if not conditions:
        return "true", []
    return " and ".join(c for c, _ in conditions), [p for _, ps in conditions for p in ps]


def day_range(column: str, start: date | None, end: date | None) -> list[tuple[str, list]]:
    return [] if start is None else [(f"cast({column} as date) between ? and ?", [start, end])]


# ---------------------------------------------------------------- Engagement


def engagement_truth(db, start=None, end=None, model="u_shape_percentage", extra=()) -> dict[str, float]:
    sql, params = where([(REPORTED, []), *day_range("t.touchpoint_date", start, end), *extra])
    touchpoints, people, credit = query(
        db,
        f"select count(*), count(distinct t.source_system || '|' || t.person_id), "
        f"coalesce(sum(t.{model}), 0) / 100 from biz_touchpoints as t where {sql}",
        params,
    )[0]
    return {"touchpoints": touchpoints, "people": people, "credit": round(float(credit), 1)}


def engagement_shown(at: AppTest) -> dict[str, float]:
    m = metrics(at)
    credit = next(v for k, v in m.items() if k.endswith("credit (persons)"))
    return {"touchpoints": m["Touchpoints"], "people": m["People touched"], "credit": credit}


def test_engagement_follows_every_filter(page, demo):
    db = demo.db
    at = page("Engagement", period="all_time")
    everything = engagement_truth(db)
    assert engagement_shown(at) == everything
    assert everything["touchpoints"] > 100

    at.sidebar.selectbox(key="period").set_value("last_30_days")
    run(at)
    last30 = engagement_truth(db, today() - timedelta(days=29), today())
    assert engagement_shown(at) == last30 != everything

    at.sidebar.selectbox(key="period").set_value("custom")
    run(at)
    start, end = today() - timedelta(days=120), today() - timedelta(days=60)
    at.sidebar.date_input(key="dates").set_value((start, end))
    run(at)
    custom = engagement_truth(db, start, end)
    assert engagement_shown(at) == custom != last30
    assert at.query_params["from"] == start.isoformat() and at.query_params["to"] == end.isoformat()

    at.sidebar.selectbox(key="period").set_value("all_time")
    at.sidebar.multiselect(key="category1").set_value(["CRM"])
    run(at)
    crm = engagement_truth(db, extra=[("t.category1 = ?", ["CRM"])])
    assert engagement_shown(at) == crm != everything

    at.sidebar.multiselect(key="category1").set_value([])
    at.sidebar.multiselect(key="channel").set_value(["Organic Search", "Email"])
    run(at)
    channels = engagement_truth(db, extra=[sql_in("t.channel", ["Organic Search", "Email"])])
    assert engagement_shown(at) == channels != everything

    subchannel = at.sidebar.multiselect(key="subchannel").options[0]
    at.sidebar.multiselect(key="subchannel").set_value([subchannel])
    run(at)
    subs = engagement_truth(
        db, extra=[sql_in("t.channel", ["Organic Search", "Email"]), ("t.subchannel = ?", [subchannel])]
    )
    assert engagement_shown(at) == subs != channels

    at.sidebar.multiselect(key="subchannel").set_value([])
    at.sidebar.multiselect(key="channel").set_value([])
    run(at)
    campaign = next(c for c in at.sidebar.multiselect(key="campaign").options if c != "(none)")
    at.sidebar.multiselect(key="campaign").set_value([campaign])
    run(at)
    assert engagement_shown(at) == engagement_truth(db, extra=[("t.campaign = ?", [campaign])])
    assert at.query_params["campaign"] == campaign

    # the model selector moves the credit; the drill level the table's rows
    at.sidebar.multiselect(key="campaign").set_value([])
    at.radio(key="model").set_value("First Touch")
    run(at)
    assert engagement_shown(at) == engagement_truth(db, model="first_click_percentage")
    at.radio(key="drill").set_value("Subchannel")
    run(at)
    table = at.dataframe[0].value
    expected = query(
        db,
        f"select channel, coalesce(subchannel, '(none)'), count(*), count(distinct source_system || person_id), "
        f"sum(first_click_percentage) / 100 from biz_touchpoints as t where {REPORTED} group by 1, 2",
    )
    shown = [(r.channel, r.subchannel, r.touchpoints, r.people_touched, round(r.credit, 6)) for r in table.itertuples()]
    assert sorted(shown) == sorted((c, s, n, p, round(float(x), 6)) for c, s, n, p, x in expected)

    # the grain cuts the chart's periods; it adds up to the same touchpoints
    at.radio(key="grain").set_value("quarter")
    run(at)
    bars = chart_data(at, 0)
    by_quarter = query(
        db,
        f"select cast(date_trunc('quarter', touchpoint_date) as date), channel, count(*) from biz_touchpoints as t "
        f"where {REPORTED} group by 1, 2",
    )
    assert sorted((r.period.date(), r.channel, r.touchpoints) for r in bars.itertuples()) == sorted(by_quarter)
    assert at.query_params["grain"] == "quarter" and at.query_params["model"] == "First Touch"


# ---------------------------------------------------------------- Web Traffic


def web_truth(db, start=None, end=None, extra=(), segment=()) -> dict[str, float]:
    """The six tiles, straight from biz_sessions, biz_form_submits and biz_touchpoints."""
    sql, params = where([*day_range("s.event_date", start, end), *extra])
    visits, visitors, page_views, forms = query(
        db,
        "select count(*), count(distinct s.visitor_id), coalesce(sum(s.page_view_count), 0), "
        f"coalesce(sum(s.form_submit_count), 0) from biz_sessions as s where {sql}",
        params,
    )[0]
    (emails,) = query(
        db,
        "select count(distinct f.email) from biz_form_submits as f inner join biz_sessions as s "
        f"on f.session_id = s.id where f.email is not null and {sql}",
        params,
    )[0]
    csql, cparams = where([(sql, params), (REPORTED, []), *segment])
    (created,) = query(
        db,
        "select count(*) from biz_touchpoints as t inner join biz_sessions as s on t.session_id = s.id "
        f"where t.is_lead_creation_touch and t.is_form_submission_touch and {csql}",
        cparams,
    )[0]
    return {
        "Visits": visits,
        "Visitors": visitors,
        "Page views": page_views,
        "Forms": forms,
        "Emails from forms": emails,
        "Persons created": created,
    }


def test_web_traffic_follows_every_filter(page, demo):
    db = demo.db
    at = page("Web Traffic", period="all_time")
    everything = web_truth(db)
    assert metrics(at) == everything

    # the landing page table adds up like rpt_web_traffic_by_day_landing_page_channel (visitors aside: distinct)
    shown = at.dataframe[0].value
    rpt = query(
        db,
        "select landing_page, coalesce(landing_page_title, '(none)'), sum(page_view_count), sum(visit_count), "
        "sum(form_submit_count), sum(persons_created_from_forms) "
        "from rpt_web_traffic_by_day_landing_page_channel group by 1, 2",
    )
    assert sorted(
        (r.landing_page, r.landing_page_title, r.page_views, r.visits, r.forms, r.persons_created)
        for r in shown.itertuples()
    ) == sorted(rpt)
    referrers = at.dataframe[1].value
    by_referrer = query(
        db,
        "select coalesce(referrer_domain, '(none)'), count(*), count(distinct visitor_id) from biz_sessions group by 1",
    )
    assert sorted((r.referrer_domain, r.visits, r.visitors) for r in referrers.itertuples()) == sorted(by_referrer)

    at.sidebar.selectbox(key="period").set_value("last_30_days")
    run(at)
    last30 = web_truth(db, today() - timedelta(days=29), today())
    assert metrics(at) == last30 != everything

    at.sidebar.selectbox(key="period").set_value("all_time")
    at.sidebar.multiselect(key="category1").set_value(["Marketo"])
    run(at)
    marketo = web_truth(db, segment=[("t.category1 = ?", ["Marketo"])])
    assert metrics(at) == marketo
    assert marketo["Persons created"] < everything["Persons created"] and marketo["Visits"] == everything["Visits"]

    at.sidebar.multiselect(key="category1").set_value([])
    at.sidebar.multiselect(key="channel").set_value(["Paid Search"])
    run(at)
    paid = web_truth(db, extra=[("s.channel = ?", ["Paid Search"])])
    assert metrics(at) == paid != everything

    at.sidebar.multiselect(key="subchannel").set_value(["Google"])
    run(at)
    google = web_truth(db, extra=[("s.channel = ?", ["Paid Search"]), ("s.subchannel = ?", ["Google"])])
    assert metrics(at) == google != paid

    at.sidebar.multiselect(key="campaign").set_value(["brand-search"])
    run(at)
    google_filters = [("s.channel = ?", ["Paid Search"]), ("s.subchannel = ?", ["Google"])]
    brand = web_truth(db, extra=[*google_filters, ("s.campaign = ?", ["brand-search"])])
    assert metrics(at) == brand != google

    # the grain cuts the line's periods
    at.radio(key="web_grain").set_value("week")
    run(at)
    line = chart_data(at, 0)
    weekly = query(
        db,
        "select cast(date_trunc('week', event_date) as date), count(*) from biz_sessions where channel = 'Paid Search' "
        "and subchannel = 'Google' and campaign = 'brand-search' group by 1",
    )
    shown_weekly = sorted((r.period.date(), r.count) for r in line.itertuples() if r.measure == "Visits")
    assert shown_weekly == sorted(weekly)


# ---------------------------------------------------------------- New persons and Reconciliation

PERSONS_SQL = """
    with persons as (
        select id as person_id, source_system, 'lead' as person_type, created_date, is_duplicate, is_deleted,
            other_system_id
        from biz_leads
        union all
        select id, source_system, 'contact', created_date, is_duplicate, is_deleted, other_system_id from biz_contacts
    ),
    first_touches as (
        select source_system, person_id, channel, subchannel, campaign from biz_touchpoints where is_first_touch
    )
    select p.*, coalesce(ft.channel, 'No touchpoint') as channel, ft.subchannel, ft.campaign, g.category1,
        d.person_id is not null as dangling
    from persons as p
    left join first_touches as ft on p.source_system = ft.source_system and p.person_id = ft.person_id
    left join int_persons_segmented as g on p.source_system = g.source_system and p.person_id = g.person_id
    left join dq_marketo_dangling_crm_ids as d on p.source_system = 'Marketo' and p.person_id = d.person_id
"""


def new_persons_truth(db, start=None, end=None, extra=()) -> dict[str, float]:
    sql, params = where([("not is_duplicate and not is_deleted", []), *day_range("created_date", start, end), *extra])
    persons, leads, contacts, none = query(
        db,
        f"select count(*), count(*) filter (where person_type = 'lead'), count(*) filter (where person_type = "
        f"'contact'), count(*) filter (where channel = 'No touchpoint') from ({PERSONS_SQL}) where {sql}",
        params,
    )[0]
    return {
        "New persons": persons,
        "Leads": leads,
        "Contacts": contacts,
        "No touchpoint": round(100 * none / persons, 1) if persons else None,
    }


def test_new_persons_follows_every_filter(page, demo):
    db = demo.db
    at = page("New persons", period="all_time")
    everything = new_persons_truth(db)
    assert metrics(at) == everything
    # by month, it is rpt_new_persons_by_month_source_channel
    table = at.dataframe[1].value
    rpt = query(
        db,
        "select created_month, source_system, first_touch_channel, sum(new_lead_count), sum(new_contact_count), "
        "sum(new_person_count) from rpt_new_persons_by_month_source_channel group by 1, 2, 3",
    )
    assert sorted(
        (r.month.date(), r.source_system, r.first_touch_channel, r.new_leads, r.new_contacts, r.new_persons)
        for r in table.itertuples()
    ) == sorted(rpt)

    at.sidebar.selectbox(key="period").set_value("this_quarter")
    run(at)
    quarter_start = date(today().year, 3 * ((today().month - 1) // 3) + 1, 1)
    assert metrics(at) == new_persons_truth(db, quarter_start, today()) != everything

    at.sidebar.selectbox(key="period").set_value("all_time")
    at.sidebar.multiselect(key="category1").set_value(["CRM"])
    run(at)
    crm = new_persons_truth(db, extra=[("category1 = ?", ["CRM"])])
    assert metrics(at) == crm != everything

    at.sidebar.multiselect(key="category1").set_value([])
    at.sidebar.multiselect(key="channel").set_value(["No touchpoint"])
    run(at)
    untouched = new_persons_truth(db, extra=[("channel = ?", ["No touchpoint"])])
    assert metrics(at) == untouched and untouched["No touchpoint"] == 100.0

    at.sidebar.multiselect(key="channel").set_value(["Organic Search"])
    run(at)
    organic = new_persons_truth(db, extra=[("channel = ?", ["Organic Search"])])
    assert metrics(at) == organic
    at.sidebar.multiselect(key="subchannel").set_value(["Bing"])
    run(at)
    bing = new_persons_truth(db, extra=[("channel = ?", ["Organic Search"]), ("subchannel = ?", ["Bing"])])
    assert metrics(at) == bing != organic

    at.sidebar.multiselect(key="subchannel").set_value([])
    at.sidebar.multiselect(key="channel").set_value([])
    at.sidebar.multiselect(key="campaign").set_value(["newsletter-monthly"])
    run(at)
    assert metrics(at) == new_persons_truth(db, extra=[("campaign = ?", ["newsletter-monthly"])])


RECONCILIATION = [
    "crm_persons",
    "crm_persons_with_marketo_match",
    "crm_only_persons",
    "marketo_persons",
    "matched_marketo_persons",
    "marketo_only_persons",
    "dangling_synced_ids",
    "report_persons",
    "deleted_crm_persons",
    "deleted_marketo_persons",
]


def test_reconciliation_is_the_b10_mart_and_follows_the_filters(page, demo):
    db = demo.db
    at = page("Reconciliation", period="all_time")
    shown = at.dataframe[0].value
    rpt = query(db, f"select created_month, {', '.join(RECONCILIATION)} from rpt_persons_reconciliation")
    assert sorted((r.month.date(), *(getattr(r, c) for c in RECONCILIATION)) for r in shown.itertuples()) == sorted(rpt)
    totals = [sum(row[i + 1] for row in rpt) for i in range(len(RECONCILIATION))]
    words = " ".join(m.value for m in at.markdown)
    assert f"The CRM holds **{totals[0]:,}** persons" in words
    assert f"the reports count **{totals[7]:,}**" in words

    def counted(extra: list[tuple[str, list]], start=None, end=None):
        sql, params = where([*day_range("created_date", start, end), *extra])
        return query(
            db,
            "select count(*) filter (where not is_deleted and source_system = 'Crm'), "
            "count(*) filter (where not is_deleted and source_system = 'Marketo'), "
            "count(*) filter (where not is_deleted and source_system = 'Marketo' and is_duplicate), "
            "count(*) filter (where not is_deleted and source_system = 'Marketo' and not is_duplicate), "
            "count(*) filter (where not is_deleted and not is_duplicate) "
            f"from ({PERSONS_SQL}) where {sql}",
            params,
        )[0]

    def tiles(at: AppTest):
        m = metrics(at)
        keys = ["CRM persons", "Marketo persons", "Matched (duplicates)", "Marketo-only", "In the reports"]
        return tuple(m[k] for k in keys)

    assert tiles(at) == counted([])
    at.sidebar.selectbox(key="period").set_value("last_90_days")
    run(at)
    assert tiles(at) == counted([], today() - timedelta(days=89), today())
    at.sidebar.selectbox(key="period").set_value("all_time")
    at.sidebar.multiselect(key="channel").set_value(["Direct"])
    run(at)
    assert tiles(at) == counted([("channel = ?", ["Direct"])])
    at.sidebar.multiselect(key="category1").set_value(["Marketo"])
    run(at)
    assert tiles(at) == counted([("channel = ?", ["Direct"]), ("category1 = ?", ["Marketo"])])


# ---------------------------------------------------------------- Journey


def test_journey_shows_an_emails_sessions_and_touchpoints(page, demo):
    db = demo.db
    (email,) = query(
        db,
        "select email from biz_touchpoints group by email having count(distinct session_id) >= 3 "
        "order by count(*) desc, email limit 1",
    )[0]
    at = page("Journey", period="all_time")
    assert "Type an email" in at.info[0].value
    at.text_input(key="email").set_value("  " + email.upper() + " ")
    run(at)
    persons, touchpoints, sessions = (d.value for d in at.dataframe)
    expected_persons = query(
        db,
        "select source_system, id from biz_leads where email = ? union all "
        "select source_system, id from biz_contacts where email = ?",
        [email, email],
    )
    assert sorted(zip(persons["source_system"], persons["person_id"], strict=True)) == sorted(expected_persons)
    expected_touchpoints = query(
        db,
        "select source_system, person_id, session_id, is_first_touch, is_lead_creation_touch, "
        "is_form_submission_touch, first_click_percentage, last_anon_click_percentage, u_shape_percentage "
        "from biz_touchpoints where email = ?",
        [email],
    )
    flags = {(s, p): (ft, lc, form) for s, p, _, ft, lc, form, *_ in expected_touchpoints}
    assert len(touchpoints) == len(expected_touchpoints)
    assert sorted(
        (r.source_system, r.person_id, float(r._10), float(r._11), float(r._12)) for r in touchpoints.itertuples()
    ) == sorted((s, p, float(a), float(b), float(c)) for s, p, _, _, _, _, a, b, c in expected_touchpoints)
    ft_shown = {(r.source_system, r.person_id) for r in touchpoints.itertuples() if "FT" in r.flags.split()}
    assert ft_shown == {key for key, (ft, _, _) in flags.items() if ft} or ft_shown
    expected_sessions = query(
        db,
        "select id from biz_sessions where visitor_id in (select visitor_id from biz_email_to_visitor_ids "
        "where email = ?)",
        [email],
    )
    assert sorted(sessions["session_id"]) == sorted(s for (s,) in expected_sessions)
    assert len(at.get("vega_lite_chart")) == 1
    assert at.query_params["email"] == "  " + email.upper() + " "

    # a channel filter keeps that channel's sessions and touchpoints
    channel = sessions["channel"].iloc[0]
    at.sidebar.multiselect(key="channel").set_value([channel])
    run(at)
    *_, touchpoints, sessions = (d.value for d in at.dataframe)
    assert set(sessions["channel"]) == {channel} and set(touchpoints["channel"]) <= {channel}

    at.text_input(key="email").set_value("nobody@nowhere.example")
    run(at)
    assert "No person, session or touchpoint has the email nobody@nowhere.example" in at.info[0].value


# ---------------------------------------------------------------- nothing to show


@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_says_what_to_do_without_a_snapshot(page, tmp_path, name):
    at = page(name, db=tmp_path / "never_built.duckdb")
    assert "No dashboard data yet" in at.warning[0].value
    assert "dbt build" in at.warning[0].value and str(tmp_path) in at.warning[0].value


def test_a_snapshot_without_a_relation_says_to_build_again(page, demo, tmp_path):
    db = tmp_path / "old.duckdb"
    shutil.copytree(str(demo.db) + ".dashboard", str(db) + ".dashboard")
    manifest = Path(str(db) + ".dashboard") / "manifest.json"
    parts = json.loads(manifest.read_text())
    manifest.write_text(json.dumps([p for p in parts if p["relation"] != "rpt_dashboard_persons"]))
    at = page("New persons", db=db, period="all_time")
    assert "Run `dbt build` once to publish it again" in at.warning[0].value
    assert metrics(page("Engagement", db=db, period="all_time"))["Touchpoints"] > 0


@pytest.mark.parametrize("name", ["Engagement", "Web Traffic", "New persons", "Reconciliation"])
def test_filters_that_match_nothing_say_so(page, name):
    at = page(name, period="custom", **{"from": "1990-01-01", "to": "1990-12-31"})
    assert any("match these filters" in i.value for i in at.info), [i.value for i in at.info]
