"""Web sessions, channels, the email join and touchpoints, end to end: hand-built raw tables, the real
`dbt build` on every target (tests/engines.py), exact contents of the web marts (compared both ways); every
mart of the Postgres and Spark builds equals the DuckDB build's."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from tests.conftest import engine_params
from tests.engines import Scenario, Warehouse
from tests.support import query, run_dbt

RAW_DDL = """
create schema if not exists raw_web;
create schema if not exists raw_marketo;
create table if not exists raw_web.page_views (
    id varchar, cookie_id varchar, event_date timestamptz, current_page_raw varchar,
    referrer_page_raw varchar, page_title varchar, ip_address varchar, user_agent_string varchar,
    _dlt_load_id varchar);
create table if not exists raw_web.form_submits (
    id varchar, cookie_id varchar, event_date timestamptz, current_page_raw varchar, email varchar,
    form_identifier varchar, ip_address varchar, user_agent_string varchar, _dlt_load_id varchar);
create table if not exists raw_web._dlt_loads (
    load_id varchar, schema_name varchar, status bigint, inserted_at timestamptz);
create table if not exists raw_marketo.leads (
    id bigint, email varchar, created_at timestamptz, updated_at timestamptz, sfdc_type varchar,
    sfdc_contact_id varchar, sfdc_account_id varchar, _dlt_load_id varchar);
create table if not exists raw_marketo.deleted_leads (id bigint, lead_id bigint, activity_date timestamptz);
"""


def load_batch(
    path: Path, load_id: str, page_views=(), form_submits=(), leads=(), deleted=(), completed: bool = True
) -> None:
    """Land one dlt-like load: web events tagged with `load_id` (recorded in _dlt_loads when completed;
    dlt writes that row only once the load is committed), leads merged on id, delete activities appended.
    page_views: (id, cookie, 'YYYY-MM-DD HH:MM:SS' UTC, page, referrer); form_submits: (id, cookie, time,
    page, email); leads: (id, email, created_at, sfdc_type, sfdc_contact_id, sfdc_account_id)."""
    with duckdb.connect(str(path)) as con:
        con.execute(RAW_DDL)
        for id_, cookie, at, page, referrer in page_views:
            con.execute(
                "insert into raw_web.page_views values (?, ?, cast(? || '+00' as timestamptz), ?, ?, "
                "'title', '10.0.0.1', 'Mozilla/5.0', ?)",
                [id_, cookie, at, page, referrer, load_id],
            )
        for id_, cookie, at, page, email in form_submits:
            con.execute(
                "insert into raw_web.form_submits values (?, ?, cast(? || '+00' as timestamptz), ?, ?, "
                "'form-1', '10.0.0.1', 'Mozilla/5.0', ?)",
                [id_, cookie, at, page, email, load_id],
            )
        for id_, email, created, sfdc_type, contact_id, account_id in leads:
            con.execute("delete from raw_marketo.leads where id = ?", [id_])
            con.execute(
                "insert into raw_marketo.leads values (?, ?, cast(? || '+00' as timestamptz), "
                "cast(? || '+00' as timestamptz), ?, ?, ?, ?)",
                [id_, email, created, created, sfdc_type, contact_id, account_id, load_id],
            )
        for id_, lead_id, at in deleted:
            con.execute(
                "insert into raw_marketo.deleted_leads values (?, ?, cast(? || '+00' as timestamptz))",
                [id_, lead_id, at],
            )
        if completed:
            con.execute("insert into raw_web._dlt_loads values (?, 'web', 0, now())", [load_id])


def session_hash(cookie: str, first_event_key: str) -> str:
    return hashlib.md5(f"{cookie}|{first_event_key}".encode()).hexdigest()


def assert_same(actual: list[tuple], expected: list[tuple]) -> None:
    """Rows equal as multisets, with what is missing and what is extra spelled out."""
    missing = sorted(set(expected) - set(actual), key=repr)
    extra = sorted(set(actual) - set(expected), key=repr)
    assert not missing and not extra, f"missing: {missing}\nextra: {extra}"
    assert len(actual) == len(expected), "duplicate rows"


# fmt: off
D = "2026-03-0"
PAGE_VIEWS = [
    # c1 (Jane): paid search landing; exactly 30 minutes later stays; 30 min + 1 s later cuts (Direct)
    ("pv1", "c1", f"{D}1 09:00:00", "https://acme.com/?utm_source=google&utm_medium=cpc&utm_campaign=brand"
                                    "&utm_term=acme&utm_content=ad1", "https://www.google.com/"),
    ("pv2", "c1", f"{D}1 09:30:00", "https://acme.com/pricing", "https://acme.com/"),
    ("pv3", "c1", f"{D}1 10:00:01", "https://acme.com/docs", None),
    # next day from LinkedIn (Social), then a UTM-tagged email link on the own site cuts again
    ("pv4", "c1", f"{D}2 10:00:00", "https://acme.com/blog/x", "https://www.linkedin.com/feed/"),
    ("pv5", "c1", f"{D}2 10:10:00", "https://acme.com/thanks?utm_source=newsletter&utm_medium=email",
     "https://www.acme.com/demo"),
    # c2 (Bob): an organic search session across midnight
    ("pv6", "c2", f"{D}4 23:50:00", "https://acme.com/", "https://duckduckgo.com/"),
    ("pv7", "c2", f"{D}5 00:15:00", "https://acme.com/a", None),
    # c3, shared by Ann and Dan: UTM tags no rule knows (Other), then a web referral
    ("pv8", "c3", f"{D}6 08:00:00", "https://acme.com/?utm_source=partner&utm_medium=affiliate", None),
    ("pv9", "c3", f"{D}6 09:00:00", "https://acme.com/x", "https://news.example.org/a?b=1"),
    # c5, anonymous: paid social, then display with a Direct arrival inside the session
    ("pv10", "c5", f"{D}7 10:00:00", "https://acme.com/?utm_source=linkedin&utm_medium=cpc", None),
    ("pv11", "c5", f"{D}7 13:00:00", "https://acme.com/?utm_source=adnet&utm_medium=banner", None),
    ("pv12", "c5", f"{D}7 13:10:00", "https://acme.com/p", None),
]
FORM_SUBMITS = [
    ("fs1", "c1", f"{D}2 10:05:00", "https://acme.com/demo?src=blog", " Jane@Acme.com "),
    ("fs2", "c1", f"{D}2 10:12:00", "https://acme.com/thanks", "jane@acme.com"),
    # c2: a form without a page view, in mixed case
    ("fs3", "c2", f"{D}4 12:00:00", "https://acme.com/contact", "BOB@beta.io"),
    ("fs4", "c3", f"{D}6 08:01:00", "https://acme.com/", "ann@delta.com"),
    ("fs5", "c3", f"{D}6 09:02:00", "https://acme.com/x", "dan@delta.com"),
    # an email without '@' never links
    ("fs6", "c4", f"{D}6 10:00:00", "https://acme.com/contact", "not-an-email"),
]
LEADS = [
    (1, "jane@acme.com", f"{D}2 10:06:00", None, None, None),
    (2, "BOB@Beta.io", f"{D}1 00:00:00", "Contact", "003B", "001B"),   # created before any visit: no LC
    (3, "carl@gamma.com", f"{D}3 00:00:00", None, None, None),        # no web activity
    (4, "not-an-email", f"{D}3 00:00:00", None, None, None),
    (5, "ann@delta.com", f"{D}6 08:03:00", None, None, None),
    (6, "dan@delta.com", f"{D}7 00:00:00", None, None, None),
]

# (cookie, start, channel, subchannel, landing_page, referrer_page, web_source, medium, campaign, term,
#  content, is_first_session, has_form, page_view_count, form_submit_count, session_end)
SESSIONS = [
    ("c1", f"{D}1 09:00:00", "Paid Search", "Google", "https://acme.com/", "https://www.google.com/",
     "google", "cpc", "brand", "acme", "ad1", True, False, 2, 0, f"{D}1 09:30:00"),
    ("c1", f"{D}1 10:00:01", "Direct", None, "https://acme.com/docs", None, None, None, None, None, None,
     False, False, 1, 0, f"{D}1 10:00:01"),
    ("c1", f"{D}2 10:00:00", "Social", "LinkedIn", "https://acme.com/blog/x", "https://www.linkedin.com/feed/",
     None, None, None, None, None, False, True, 1, 1, f"{D}2 10:05:00"),
    ("c1", f"{D}2 10:10:00", "Email", "newsletter", "https://acme.com/thanks", None, "newsletter", "email",
     None, None, None, False, True, 1, 1, f"{D}2 10:12:00"),
    ("c2", f"{D}4 12:00:00", "Direct", None, "https://acme.com/contact", None, None, None, None, None, None,
     True, True, 0, 1, f"{D}4 12:00:00"),
    ("c2", f"{D}4 23:50:00", "Organic Search", "DuckDuckGo", "https://acme.com/", "https://duckduckgo.com/",
     None, None, None, None, None, False, False, 2, 0, f"{D}5 00:15:00"),
    ("c3", f"{D}6 08:00:00", "Other", "partner", "https://acme.com/", None, "partner", "affiliate", None,
     None, None, True, True, 1, 1, f"{D}6 08:01:00"),
    ("c3", f"{D}6 09:00:00", "Web Referral", "news.example.org", "https://acme.com/x",
     "https://news.example.org/a", None, None, None, None, None, False, True, 1, 1, f"{D}6 09:02:00"),
    ("c4", f"{D}6 10:00:00", "Direct", None, "https://acme.com/contact", None, None, None, None, None, None,
     True, True, 0, 1, f"{D}6 10:00:00"),
    ("c5", f"{D}7 10:00:00", "Paid Social", "LinkedIn", "https://acme.com/", None, "linkedin", "cpc", None,
     None, None, True, False, 1, 0, f"{D}7 10:00:00"),
    ("c5", f"{D}7 13:00:00", "Display", "adnet", "https://acme.com/", None, "adnet", "banner", None, None,
     None, False, False, 2, 0, f"{D}7 13:10:00"),
]

# (person_id, lead_id, contact_id, account_id, email, session cookie, session start, marketing_touch_type,
#  touchpoint_date, form_page, channel, first_click, last_anon_click, u_shape, is_first_touch,
#  is_lead_creation_touch, is_form_submission_touch, is_deleted)
TOUCHPOINTS = [
    ("1", "1", None, None, "jane@acme.com", "c1", f"{D}1 09:00:00", "Web Visit", f"{D}1 09:00:00", None,
     "Paid Search", 100, 0, 50, True, False, False, False),
    ("1", "1", None, None, "jane@acme.com", "c1", f"{D}2 10:00:00", "Web Form", f"{D}2 10:05:00",
     "https://acme.com/demo", "Social", 0, 100, 50, False, True, True, False),
    # after lead creation + 5 minutes: 0 in every lead-level model
    ("1", "1", None, None, "jane@acme.com", "c1", f"{D}2 10:10:00", "Web Form", f"{D}2 10:12:00",
     "https://acme.com/thanks", "Email", 0, 0, 0, False, False, True, False),
    ("2", None, "2", "001B", "bob@beta.io", "c2", f"{D}4 12:00:00", "Web Form", f"{D}4 12:00:00",
     "https://acme.com/contact", "Direct", 100, 0, 100, True, False, True, False),
    ("5", "5", None, None, "ann@delta.com", "c3", f"{D}6 08:00:00", "Web Form", f"{D}6 08:01:00",
     "https://acme.com/", "Other", 100, 100, 100, True, True, True, False),
    ("6", "6", None, None, "dan@delta.com", "c3", f"{D}6 08:00:00", "Web Visit", f"{D}6 08:00:00", None,
     "Other", 100, 0, 50, True, False, False, True),
    ("6", "6", None, None, "dan@delta.com", "c3", f"{D}6 09:00:00", "Web Form", f"{D}6 09:02:00",
     "https://acme.com/x", "Web Referral", 0, 100, 50, False, True, True, True),
]
# fmt: on


def ts(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def write_touchpoints_scenario(path: Path) -> None:
    load_batch(path, "1700000001.1", PAGE_VIEWS, FORM_SUBMITS, LEADS, deleted=[(90, 6, f"{D}8 00:00:00")])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, new_warehouse) -> Scenario:
    return Scenario(
        "touchpoints",
        tmp_path_factory,
        new_warehouse,
        write_touchpoints_scenario,
        ["build", "--exclude", "test_type:unit"],
    )


@pytest.fixture(scope="module", params=engine_params())
def built(request, scenario) -> Warehouse:
    return scenario(request.param)


@pytest.mark.parametrize("engine", engine_params("postgres", "spark"))
def test_marts_equal_duckdb_marts(scenario, engine):
    scenario(engine)
    assert scenario.differences[engine] == {}


def test_sessions(built):
    actual = built.query(
        """
        select cookie_id, event_date, channel, subchannel, landing_page, referrer_page, web_source, medium,
               campaign, term, content, is_first_session, has_form, page_view_count, form_submit_count,
               session_end
        from main.biz_sessions""",
    )
    expected = [(s[0], ts(s[1]), *s[2:15], ts(s[15])) for s in SESSIONS]
    assert_same(actual, expected)
    # the id is deterministic: the cookie and the session's first event
    ids = dict(built.query("select event_date, id from main.biz_sessions where cookie_id = 'c2'"))
    assert ids[ts(f"{D}4 12:00:00")] == session_hash("c2", "form_submit:fs3")
    assert ids[ts(f"{D}4 23:50:00")] == session_hash("c2", "page_view:pv6")


def test_events_carry_their_session(built):
    starts = {
        ("c1", "pv1"): "1 09:00:00",
        ("c1", "pv2"): "1 09:00:00",
        ("c1", "pv3"): "1 10:00:01",
        ("c1", "pv4"): "2 10:00:00",
        ("c1", "pv5"): "2 10:10:00",
        ("c2", "pv6"): "4 23:50:00",
        ("c2", "pv7"): "4 23:50:00",
        ("c3", "pv8"): "6 08:00:00",
        ("c3", "pv9"): "6 09:00:00",
        ("c5", "pv10"): "7 10:00:00",
        ("c5", "pv11"): "7 13:00:00",
        ("c5", "pv12"): "7 13:00:00",
    }
    actual = built.query(
        """
        select events.visitor_id, events.id, sessions.event_date
        from main.biz_page_views as events
        inner join main.biz_sessions as sessions on events.session_id = sessions.id""",
    )
    assert_same(actual, [(c, i, ts(f"{D}{s}")) for (c, i), s in starts.items()])
    actual = built.query(
        """
        select events.id, events.email, sessions.cookie_id, sessions.event_date
        from main.biz_form_submits as events
        inner join main.biz_sessions as sessions on events.session_id = sessions.id""",
    )
    assert_same(
        actual,
        [
            ("fs1", "jane@acme.com", "c1", ts(f"{D}2 10:00:00")),
            ("fs2", "jane@acme.com", "c1", ts(f"{D}2 10:10:00")),
            ("fs3", "bob@beta.io", "c2", ts(f"{D}4 12:00:00")),
            ("fs4", "ann@delta.com", "c3", ts(f"{D}6 08:00:00")),
            ("fs5", "dan@delta.com", "c3", ts(f"{D}6 09:00:00")),
            ("fs6", None, "c4", ts(f"{D}6 10:00:00")),
        ],
    )


def test_email_to_visitor_ids(built):
    actual = built.query(
        "select email, visitor_id, created_date, modified_date, is_deleted from main.biz_email_to_visitor_ids",
    )
    assert_same(
        actual,
        [
            ("jane@acme.com", "c1", ts(f"{D}2 10:05:00"), ts(f"{D}2 10:12:00"), False),
            ("bob@beta.io", "c2", ts(f"{D}4 12:00:00"), ts(f"{D}4 12:00:00"), False),
            ("ann@delta.com", "c3", ts(f"{D}6 08:01:00"), ts(f"{D}6 08:01:00"), False),
            ("dan@delta.com", "c3", ts(f"{D}6 09:02:00"), ts(f"{D}6 09:02:00"), False),
        ],
    )


def test_touchpoints(built):
    actual = built.query(
        """
        select touchpoints.person_id, touchpoints.lead_id, touchpoints.contact_id, touchpoints.account_id,
               touchpoints.email, sessions.cookie_id, sessions.event_date, touchpoints.marketing_touch_type,
               touchpoints.touchpoint_date, touchpoints.form_page, touchpoints.channel,
               cast(touchpoints.first_click_percentage as integer),
               cast(touchpoints.last_anon_click_percentage as integer),
               cast(touchpoints.u_shape_percentage as integer),
               touchpoints.is_first_touch, touchpoints.is_lead_creation_touch,
               touchpoints.is_form_submission_touch, touchpoints.is_deleted
        from main.biz_touchpoints as touchpoints
        inner join main.biz_sessions as sessions on touchpoints.session_id = sessions.id""",
    )
    expected = [(*t[:6], ts(t[6]), t[7], ts(t[8]), *t[9:]) for t in TOUCHPOINTS]
    assert_same(actual, expected)
    rows = built.query("select distinct source_system, category1, is_duplicate from main.biz_touchpoints")
    assert rows == [("Marketo", "Marketo", False)]


def test_channels(built):
    actual = built.query("select name from main.biz_channels")
    assert_same(
        actual,
        [
            (c,)
            for c in [
                "Paid Search",
                "Organic Search",
                "Paid Social",
                "Social",
                "Email",
                "Display",
                "Web Referral",
                "Direct",
                "Other",
            ]
        ],
    )


def test_build_without_web_data(tmp_path):
    """No raw_web tables at all: every web mart builds empty, its data tests and the unit tests pass."""
    path = tmp_path / "warehouse.duckdb"
    run_dbt(["build"], path)
    assert query(path, "select count(*) from main.biz_touchpoints") == [(0,)]
    assert query(path, "select count(*) from main.biz_sessions") == [(0,)]
