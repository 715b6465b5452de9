"""Reporting marts (issue 5): a hand-built scenario — Marketo persons, their Salesforce twins, a dangling
synced id, deletes in both systems, page views and forms — the real `dbt build` on every target
(tests/engines.py), then the exact rows of every rpt_* mart, compared both ways, and every mart of the
Postgres and Spark builds equal to the DuckDB build's. On Spark this build also runs every data test (the
other Spark scenarios run the models only). Then the vars (duplicates, deleted, reporting
time zone) re-run only the rpt_* models on that warehouse, and a copy of the project with a `Region`
category added to the segment seed alone shows the reports filter by it.

The reconciliation (B10) is checked against counts computed here, in Python, from the scenario's persons."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from tests.conftest import engine_params
from tests.engines import Scenario, Warehouse
from tests.support import copy_project
from tests.test_crm_dbt import (
    MARKETO_COLUMNS,
    SF_ACCOUNT_COLUMNS,
    SF_CONTACT_COLUMNS,
    SF_LEAD_COLUMNS,
    write_table,
)

WEB_DDL = """
create schema if not exists raw_web;
create table raw_web.page_views (
    id varchar, cookie_id varchar, event_date timestamptz, current_page_raw varchar,
    referrer_page_raw varchar, page_title varchar, ip_address varchar, user_agent_string varchar,
    _dlt_load_id varchar);
create table raw_web.form_submits (
    id varchar, cookie_id varchar, event_date timestamptz, current_page_raw varchar, email varchar,
    form_identifier varchar, ip_address varchar, user_agent_string varchar, _dlt_load_id varchar);
create table raw_web._dlt_loads (load_id varchar, schema_name varchar, status bigint, inserted_at timestamptz);
"""
LOAD_ID = "1700000001.1"
NEW_YORK = "America/New_York"


def utc(value: str) -> str:
    return value + "+00"


# One row per person of the scenario; the reconciliation's ground truth is computed from this list alone.
# (system, id, type, email, created UTC, synced CRM id or None, deleted)
# fmt: off
PERSONS = [
    ("Marketo", "1", "lead", "ann@a.de", "2026-01-10 12:00:00", None, False),        # Marketo-only
    ("Marketo", "2", "lead", "bob@b.com", "2026-01-20 12:00:00", "00QB", False),     # twin of SF lead 00QB
    ("Marketo", "3", "lead", "carl@c.com", "2026-02-03 12:00:00", "00Q_GONE", False),  # dangling synced id
    ("Marketo", "4", "lead", "dora@d.fr", "2026-01-12 09:03:00", None, True),         # deleted in Marketo
    # twin of SF contact 003G, which was created 3:00 UTC on Feb 1: January in New York
    ("Marketo", "5", "contact", "gina@g.com", "2026-01-31 23:30:00", "003G", False),
    ("Marketo", "6", "lead", "hal@h.com", "2026-02-15 09:02:00", None, False),
    ("Marketo", "7", "lead", "ivy@i.com", "2026-02-20 12:00:00", None, False),
    ("Crm", "00QB", "lead", "bob@b.com", "2026-01-15 12:00:00", None, False),
    ("Crm", "00QF", "lead", "frank@f.com", "2026-01-25 12:00:00", None, True),        # deleted in Salesforce
    ("Crm", "003E", "contact", "eve@e.fr", "2026-02-10 08:10:00", None, False),      # CRM-only
    ("Crm", "003G", "contact", "gina@g.com", "2026-02-01 03:00:00", None, False),
]
# (id, cookie, UTC time, page, referrer)
PAGE_VIEWS = [
    ("pv1", "ca", "2026-01-05 10:00:00", "https://acme.com/", "https://www.google.com/"),
    # Feb 1 02:00 UTC is Jan 31 in New York
    (
        "pv2",
        "cb",
        "2026-02-01 02:00:00",
        "https://acme.com/news?utm_source=newsletter&utm_medium=email&utm_campaign=jan-news",
        None,
    ),
    ("pv3", "ce", "2026-02-10 08:00:00", "https://acme.com/blog", "https://www.linkedin.com/"),
    ("pv4", "ch", "2026-02-14 10:00:00", "https://acme.com/?utm_source=google&utm_medium=cpc", None),
    ("pv5", "ch", "2026-02-15 09:00:00", "https://acme.com/demo", None),
    ("pv6", "cx", "2026-02-15 09:00:00", "https://acme.com/demo", None),              # anonymous visitor
]
# (id, cookie, UTC time, page, email)
FORM_SUBMITS = [
    ("fs1", "ca", "2026-01-10 11:58:00", "https://acme.com/demo", "Ann@A.de "),
    ("fs2", "ca", "2026-01-20 10:00:00", "https://acme.com/demo", "ann@a.de"),      # after creation: 0 credit
    ("fs3", "cb", "2026-02-01 02:05:00", "https://acme.com/news", "bob@b.com"),
    ("fs4", "cd", "2026-01-12 09:00:00", "https://acme.com/demo", "dora@d.fr"),
    ("fs5", "ce", "2026-02-10 08:05:00", "https://acme.com/blog", "eve@e.fr"),
    ("fs6", "ch", "2026-02-15 09:01:00", "https://acme.com/demo", "hal@h.com"),
    ("fs7", "cx", "2026-02-15 09:10:00", "https://acme.com/demo", "not-an-email"),
]
# fmt: on
DELETED_MARKETO = [{"id": 1, "lead_id": 4, "activity_date": utc("2026-03-01 00:00:00")}]


def write_scenario(path: Path) -> None:
    leads, sf_leads, sf_contacts = [], [], []
    for system, id_, type_, email, created, synced, deleted in PERSONS:
        at = utc(created)
        if system == "Marketo":
            sync = {}
            if synced:
                sync = {"sfdc_type": type_.capitalize(), f"sfdc_{type_}_id": synced}
            leads.append({"id": int(id_), "email": email, "created_at": at, "updated_at": at, "_read_at": at, **sync})
        elif type_ == "lead":
            sf_leads.append(
                {
                    "id": id_,
                    "email": email,
                    "created_date": at,
                    "last_modified_date": at,
                    "system_modstamp": at,
                    "is_converted": False,
                    "is_deleted": deleted,
                }
            )
        else:
            sf_contacts.append(
                {
                    "id": id_,
                    "email": email,
                    "created_date": at,
                    "last_modified_date": at,
                    "system_modstamp": at,
                    "is_deleted": deleted,
                }
            )
    with duckdb.connect(str(path)) as con:
        write_table(con, "raw_marketo.leads", MARKETO_COLUMNS, leads)
        write_table(
            con,
            "raw_marketo.deleted_leads",
            {"id": "bigint", "lead_id": "bigint", "activity_date": "timestamptz"},
            DELETED_MARKETO,
        )
        write_table(con, "raw_salesforce.lead", SF_LEAD_COLUMNS, sf_leads)
        write_table(con, "raw_salesforce.contact", SF_CONTACT_COLUMNS, sf_contacts)
        write_table(con, "raw_salesforce.account", SF_ACCOUNT_COLUMNS, [])
        con.execute(WEB_DDL)
        for id_, cookie, at, page, referrer in PAGE_VIEWS:
            con.execute(
                "insert into raw_web.page_views values (?, ?, ?, ?, ?, 'title', '10.0.0.1', 'Mozilla/5.0', ?)",
                [id_, cookie, utc(at), page, referrer, LOAD_ID],
            )
        for id_, cookie, at, page, email in FORM_SUBMITS:
            con.execute(
                "insert into raw_web.form_submits values (?, ?, ?, ?, ?, 'form-1', '10.0.0.1', 'Mozilla/5.0', ?)",
                [id_, cookie, utc(at), page, email, LOAD_ID],
            )
        con.execute("insert into raw_web._dlt_loads values (?, 'web', 0, now())", [LOAD_ID])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory, new_warehouse) -> Scenario:
    return Scenario(
        "reporting", tmp_path_factory, new_warehouse, write_scenario, ["build", "--exclude", "test_type:unit"],
        spark_args=["build", "--exclude-resource-type", "unit_test"],
    )  # fmt: skip


@pytest.fixture(scope="module", params=engine_params())
def built(request, scenario) -> Warehouse:
    return scenario(request.param)


@pytest.mark.parametrize("engine", engine_params("postgres", "spark"))
def test_marts_equal_duckdb_marts(scenario, engine):
    scenario(engine)
    assert scenario.differences[engine] == {}


@pytest.fixture
def rerun(built, tmp_path):
    """The built warehouse, copied, with only the rpt_* models (and their tests) rebuilt under `vars`, and
    int_web_traffic_by_day, the incremental day side of the web-traffic report (on Spark: in place)."""

    def run(vars: dict) -> Warehouse:
        copy = built.copy(tmp_path / "vars", f"reporting_{len(vars)}_{abs(hash(str(vars))) % 10**6}")
        copy.dbt(["build", "--select", "int_web_traffic_by_day", "rpt_*"], vars=vars)
        return copy

    return run


def rows(warehouse: Warehouse, sql: str) -> list[tuple]:
    return warehouse.query(sql)


def assert_same(actual: list[tuple], expected: list[tuple]) -> None:
    """Rows equal as multisets, with what is missing and what is extra spelled out."""
    missing = sorted(set(expected) - set(actual), key=repr)
    extra = sorted(set(actual) - set(expected), key=repr)
    assert not missing and not extra, f"missing: {missing}\nextra: {extra}"
    assert len(actual) == len(expected), "duplicate rows"


JAN, FEB = date(2026, 1, 1), date(2026, 2, 1)
M, C = "Marketo", "Crm"

TOUCHPOINT_SQL = """
    select touchpoint_month, channel, subchannel, source_system, category1, touchpoint_count, people_touched,
        touchpoints_per_person, first_touch_count, lead_creation_touch_count,
        first_touch_credit, lead_creation_credit, u_shape_credit
    from main.rpt_touchpoints_by_month_channel_segment
"""
# fmt: off
# (month, channel, subchannel, source_system, category1, touchpoints, people, per person, FT, LC,
#  first-touch credit, lead-creation credit, U-shape credit)
TOUCHPOINT_ROWS = [
    (JAN, "Organic Search", "Google", M, "Marketo", 1, 1, 1, 1, 0, 1, 0, 0.5),       # ann's first visit
    (JAN, "Direct", None, M, "Marketo", 2, 1, 2, 0, 1, 0, 1, 0.5),                   # ann's two forms
    (FEB, "Email", "newsletter", C, "CRM", 1, 1, 1, 1, 0, 1, 0, 1),                  # bob, after creation
    (FEB, "Social", "LinkedIn", C, "CRM", 1, 1, 1, 1, 1, 1, 1, 1),                   # eve: FT and LC
    (FEB, "Paid Search", "Google", M, "Marketo", 1, 1, 1, 1, 0, 1, 0, 0.5),          # hal
    (FEB, "Direct", None, M, "Marketo", 1, 1, 1, 0, 1, 0, 1, 0.5),
]
# fmt: on


def test_touchpoints_by_month_channel_segment(built):
    assert_same(rows(built, TOUCHPOINT_SQL), TOUCHPOINT_ROWS)


NEW_PERSONS_SQL = """
    select created_month, source_system, first_touch_channel, category1, new_lead_count, new_contact_count,
        new_person_count
    from main.rpt_new_persons_by_month_source_channel
"""
NEW_PERSONS_ROWS = [
    (JAN, M, "Organic Search", "Marketo", 1, 0, 1),
    (JAN, C, "Email", "CRM", 1, 0, 1),
    (FEB, M, "No touchpoint", "Marketo", 2, 0, 2),  # carl (dangling id) and ivy
    (FEB, M, "Paid Search", "Marketo", 1, 0, 1),
    (FEB, C, "Social", "CRM", 0, 1, 1),
    (FEB, C, "No touchpoint", "CRM", 0, 1, 1),  # gina's CRM contact
]


def test_new_persons_by_month_source_channel(built):
    assert_same(rows(built, NEW_PERSONS_SQL), NEW_PERSONS_ROWS)


WEB_SQL = """
    select session_day, landing_page, channel, subchannel, visit_count, visitor_count, page_view_count,
        form_submit_count, unique_form_email_count, persons_created_from_forms,
        marketo_persons_created_from_forms, crm_persons_created_from_forms
    from main.rpt_web_traffic_by_day_landing_page_channel
"""
# fmt: off
WEB_ROWS = [
    (date(2026, 1, 5), "https://acme.com/", "Organic Search", "Google", 1, 1, 1, 0, 0, 0, 0, 0),
    (date(2026, 1, 10), "https://acme.com/demo", "Direct", None, 1, 1, 0, 1, 1, 1, 1, 0),   # ann created
    (date(2026, 1, 12), "https://acme.com/demo", "Direct", None, 1, 1, 0, 1, 1, 0, 0, 0),   # dora: deleted
    (date(2026, 1, 20), "https://acme.com/demo", "Direct", None, 1, 1, 0, 1, 1, 0, 0, 0),
    (date(2026, 2, 1), "https://acme.com/news", "Email", "newsletter", 1, 1, 1, 1, 1, 0, 0, 0),
    (date(2026, 2, 10), "https://acme.com/blog", "Social", "LinkedIn", 1, 1, 1, 1, 1, 1, 0, 1),
    (date(2026, 2, 14), "https://acme.com/", "Paid Search", "Google", 1, 1, 1, 0, 0, 0, 0, 0),
    # hal's session and the anonymous visitor's, whose form email is not an email
    (date(2026, 2, 15), "https://acme.com/demo", "Direct", None, 2, 2, 2, 2, 1, 1, 1, 0),
]
# fmt: on


def test_web_traffic_by_day_landing_page_channel(built):
    assert_same(rows(built, WEB_SQL), WEB_ROWS)


def test_web_traffic_and_touchpoints_carry_title_referrer_domain_and_campaign(built):
    """The dimensions Discover's web tables show: the landing page's title (none when a session starts with a
    form), the referrer's domain, the utm_campaign; the touchpoint report carries the campaign too."""
    web = rows(
        built,
        "select session_day, landing_page, landing_page_title, referrer_domain, campaign, visit_count "
        "from main.rpt_web_traffic_by_day_landing_page_channel",
    )
    demo = "https://acme.com/demo"
    assert_same(
        web,
        [
            (date(2026, 1, 5), "https://acme.com/", "title", "google.com", None, 1),
            (date(2026, 1, 10), demo, None, None, None, 1),  # the session starts with ann's form
            (date(2026, 1, 12), demo, None, None, None, 1),
            (date(2026, 1, 20), demo, None, None, None, 1),
            (date(2026, 2, 1), "https://acme.com/news", "title", None, "jan-news", 1),
            (date(2026, 2, 10), "https://acme.com/blog", "title", "linkedin.com", None, 1),
            (date(2026, 2, 14), "https://acme.com/", "title", None, None, 1),
            (date(2026, 2, 15), demo, "title", None, None, 2),
        ],
    )
    campaigns = rows(
        built,
        "select channel, campaign, sum(touchpoint_count) from main.rpt_touchpoints_by_month_channel_segment "
        "where campaign is not null group by 1, 2",
    )
    assert campaigns == [("Email", "jan-news", 1)]  # bob's CRM record; his Marketo twin is a duplicate


RECONCILIATION_COLUMNS = [
    "crm_persons", "crm_persons_with_marketo_match", "crm_only_persons", "marketo_persons",
    "matched_marketo_persons", "marketo_only_persons", "dangling_synced_ids", "report_persons",
    "deleted_crm_persons", "deleted_marketo_persons",
]  # fmt: skip


def reconciliation_truth(timezone: str = "UTC", include_deleted: bool = False, include_duplicates: bool = False):
    """B10 counts from PERSONS alone: a Marketo person is matched when its synced id names a CRM person of the
    scenario (deleted or not), dangling when it names none; a CRM person is matched when a Marketo person is
    synced to it. Each person counts in the month of its own creation, in `timezone`."""
    crm_ids = {p[1] for p in PERSONS if p[0] == "Crm"}
    synced_to = {p[5] for p in PERSONS if p[0] == "Marketo" and p[5]}
    counts: dict[date, Counter] = {}
    for system, id_, _type, _email, created, synced, deleted in PERSONS:
        local = datetime.fromisoformat(created).replace(tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(timezone))
        month = counts.setdefault(date(local.year, local.month, 1), Counter())
        if deleted:
            month[f"deleted_{system.lower()}_persons"] += 1
            if not include_deleted:
                continue
        if system == "Crm":
            month["crm_persons"] += 1
            month["crm_persons_with_marketo_match" if id_ in synced_to else "crm_only_persons"] += 1
            month["report_persons"] += 1
        else:
            month["marketo_persons"] += 1
            matched = synced in crm_ids
            month["matched_marketo_persons" if matched else "marketo_only_persons"] += 1
            month["dangling_synced_ids"] += bool(synced) and not matched
            month["report_persons"] += (not matched) or include_duplicates
    return [(month, *(c[name] for name in RECONCILIATION_COLUMNS)) for month, c in counts.items()]


RECONCILIATION_SQL = f"select created_month, {', '.join(RECONCILIATION_COLUMNS)} from main.rpt_persons_reconciliation"


def test_reconciliation_matches_ground_truth(built):
    assert_same(rows(built, RECONCILIATION_SQL), reconciliation_truth())
    # the numbers a user reads: January has 1 CRM person but 2 report persons (ann is Marketo-only)
    assert sorted(reconciliation_truth())[0] == (JAN, 1, 1, 0, 3, 2, 1, 0, 2, 1, 1)


def test_reconciliation_adds_up_to_the_reports(built):
    """report_persons = crm_persons + marketo_only_persons, and = the new persons the report counts."""
    recon = {r[0]: r for r in rows(built, RECONCILIATION_SQL)}
    new_persons = dict(
        rows(
            built,
            "select created_month, sum(new_person_count) from main.rpt_new_persons_by_month_source_channel group by 1",
        )
    )
    for month, r in recon.items():
        values = dict(zip(RECONCILIATION_COLUMNS, r[1:], strict=True))
        assert values["report_persons"] == values["crm_persons"] + values["marketo_only_persons"]
        assert values["marketo_persons"] == values["matched_marketo_persons"] + values["marketo_only_persons"]
        assert new_persons.get(month, 0) == values["report_persons"]


# the vars change what the models compute, not the SQL each engine runs, except the reporting time zone (a
# conversion per engine): on Spark, where a rerun replaces the scenario's marts, that one only
@pytest.mark.parametrize("built", engine_params("duckdb", "postgres"), indirect=True)
def test_duplicates_included_with_the_var(rerun):
    path = rerun({"rpt_include_duplicates": True})
    # bob's Marketo twin brings its own touchpoint; gina's Marketo twin has none
    assert_same(
        rows(path, TOUCHPOINT_SQL),
        TOUCHPOINT_ROWS + [(FEB, "Email", "newsletter", M, "Marketo", 1, 1, 1, 1, 0, 1, 0, 1)],
    )
    expected = [r for r in NEW_PERSONS_ROWS if r[:3] != (JAN, M, "Organic Search")] + [
        (JAN, M, "Organic Search", "Marketo", 1, 0, 1),
        (JAN, M, "Email", "Marketo", 1, 0, 1),  # bob, Marketo side
        (JAN, M, "No touchpoint", "Marketo", 0, 1, 1),  # gina, Marketo side
    ]
    assert_same(rows(path, NEW_PERSONS_SQL), expected)
    assert_same(rows(path, RECONCILIATION_SQL), reconciliation_truth(include_duplicates=True))


@pytest.mark.parametrize("built", engine_params("duckdb", "postgres"), indirect=True)
def test_deleted_included_with_the_var(rerun):
    path = rerun({"rpt_include_deleted": True})
    # dora's form joins ann's Direct January row: 3 touchpoints of 2 people
    expected = [r for r in TOUCHPOINT_ROWS if r[:2] != (JAN, "Direct")] + [
        (JAN, "Direct", None, M, "Marketo", 3, 2, 1.5, 1, 2, 1, 2, 1.5)
    ]
    assert_same(rows(path, TOUCHPOINT_SQL), expected)
    assert_same(rows(path, RECONCILIATION_SQL), reconciliation_truth(include_deleted=True))
    web = {r[0]: r for r in rows(path, WEB_SQL)}
    assert web[date(2026, 1, 12)][-3:] == (1, 1, 0)  # dora was created from her form


def test_reporting_timezone_moves_events_across_a_month_boundary(rerun):
    path = rerun({"reporting_timezone": NEW_YORK})
    # bob's form at Feb 1 02:05 UTC is Jan 31 21:05 in New York
    moved = [(JAN if r[1] == "Email" else r[0], *r[1:]) for r in TOUCHPOINT_ROWS]
    assert_same(rows(path, TOUCHPOINT_SQL), moved)
    # gina's CRM contact, created Feb 1 03:00 UTC, is a January person in New York
    new_persons = [(JAN if r[1:3] == (C, "No touchpoint") else r[0], *r[1:]) for r in NEW_PERSONS_ROWS]
    assert_same(rows(path, NEW_PERSONS_SQL), new_persons)
    assert_same(rows(path, RECONCILIATION_SQL), reconciliation_truth(NEW_YORK))
    assert reconciliation_truth(NEW_YORK) != reconciliation_truth()
    days = {r[0] for r in rows(path, WEB_SQL)}
    assert date(2026, 1, 31) in days and date(2026, 2, 1) not in days
    # mart timestamps themselves stay UTC
    assert rows(path, "select min(touchpoint_date) from main.biz_touchpoints where channel = 'Email'") == [
        (datetime(2026, 2, 1, 2, 5),)
    ]


REGION_RULES = """Region,EMEA,3,1,email_domain,ends_with,.de
Region,EMEA,3,2,email_domain,ends_with,.fr
Region,Americas,4,1,email_domain,ends_with,.com
"""


@pytest.mark.parametrize("built", engine_params("duckdb", "postgres"), indirect=True)
def test_a_region_category_from_the_seed_alone_filters_the_reports(built, tmp_path):
    project = copy_project(tmp_path / "project")
    with open(project / "seeds" / "segment_rules.csv", "a") as seed:
        seed.write(REGION_RULES)
    path = built.copy(tmp_path / "region", "reporting_region")
    path.dbt(["build", "--select", "segment_rules+", "--exclude", "test_type:unit"], project_dir=project)

    assert rows(path, "select category_column from main.biz_segment_names where category = 'Region'") == [
        ("category2",),
        ("category2",),
    ]
    emea = rows(
        path,
        """
        select touchpoint_month, channel, source_system, touchpoint_count, people_touched
        from main.rpt_touchpoints_by_month_channel_segment where category2 = 'EMEA'
    """,
    )
    # ann (a.de) and eve (e.fr); dora (d.fr) is deleted
    assert_same(emea, [(JAN, "Organic Search", M, 1, 1), (JAN, "Direct", M, 2, 1), (FEB, "Social", C, 1, 1)])
    americas = rows(
        path,
        """
        select created_month, source_system, sum(new_person_count)
        from main.rpt_new_persons_by_month_source_channel where category2 = 'Americas' group by 1, 2
    """,
    )
    # bob's CRM lead (Jan); carl, hal, ivy (Marketo) and gina's CRM contact (Feb)
    assert_same(americas, [(JAN, C, 1), (FEB, M, 3), (FEB, C, 1)])
    # the totals do not change: a category splits rows, it never adds persons
    assert rows(path, "select sum(touchpoint_count) from main.rpt_touchpoints_by_month_channel_segment") == [(7,)]
