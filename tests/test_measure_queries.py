"""Queries a Marketo Measure user already has, run unchanged (lower-case names) against our biz_* marts.

The scenario is generated here with a seeded RNG, relative to today so that "last month" means something:
Marketo persons (some synced to Salesforce twins, one deleted) and their visitors' sessions, one arrival
per session from a known channel, sessions a day or more apart so each is one session by construction.
The expected answers are computed in Python from that scenario alone, by the SPEC's touchpoint rules
(first session of the email's cookies, every session with the email's form; lead creation = latest
touchpoint at or before created_date + 5 minutes), not read back from the warehouse."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.support import run_dbt
from tests.test_crm_dbt import MARKETO_COLUMNS, SF_ACCOUNT_COLUMNS, SF_CONTACT_COLUMNS, SF_LEAD_COLUMNS, write_table
from tests.test_reporting_marts import WEB_DDL

LOAD_ID = "1700000002.1"
LC_TOLERANCE = timedelta(minutes=5)
# channel -> (landing page as tracked, referrer)
ARRIVALS = {
    "Paid Search": ("https://acme.com/?utm_source=google&utm_medium=cpc", None),
    "Email": ("https://acme.com/news?utm_source=newsletter&utm_medium=email", None),
    "Organic Search": ("https://acme.com/", "https://www.google.com/"),
    "Social": ("https://acme.com/blog", "https://www.linkedin.com/"),
    "Web Referral": ("https://acme.com/x", "https://news.example.org/a"),
    "Direct": ("https://acme.com/demo", None),
}


@dataclass
class Session:
    cookie: str
    start: datetime
    channel: str
    form_at: datetime | None = None  # the person's form in this session, a minute after arrival


@dataclass
class Person:
    marketo_id: int
    email: str
    created: datetime
    sessions: list[Session] = field(default_factory=list)
    sf_lead_id: str | None = None  # synced to a loaded Salesforce lead: the Marketo person is a duplicate
    is_deleted: bool = False


def generate_scenario(seed: int = 5, n_persons: int = 40) -> list[Person]:
    rng = random.Random(seed)
    today = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    window_start = (today.replace(day=1) - timedelta(days=1)).replace(day=1) - timedelta(days=31)
    days = (today - timedelta(days=1) - window_start).days
    persons = []
    for i in range(1, n_persons + 1):
        person = Person(i, f"p{i}@co{i % 7}.com", window_start)
        for c in range(rng.choice([1, 1, 2])):
            cookie = f"k{i}_{c}"
            # one session per chosen day between 01:00 and 22:00: never two sessions of a cookie within 30 min;
            # the second is the session's index in the person, so no two of its touchpoints share an instant
            for day in sorted(rng.sample(range(days), rng.randint(1, 4))):
                offset = timedelta(days=day, minutes=rng.randrange(60, 22 * 60), seconds=len(person.sessions))
                start = window_start + offset
                person.sessions.append(Session(cookie, start, rng.choice(list(ARRIVALS))))
            # every cookie is linked to the person by at least one form
            for session in [s for s in person.sessions if s.cookie == cookie]:
                if session is person.sessions[-1] or rng.random() < 0.3:
                    session.form_at = session.start + timedelta(minutes=1)
        anchor = rng.choice(person.sessions)
        # created a few minutes after some session (usually its form), or before any visit
        person.created = anchor.start + timedelta(minutes=rng.choice([2, 4, 30, -60 * 24 * 40]))
        person.sf_lead_id = f"00Q{i:04d}" if i % 5 == 0 else None
        person.is_deleted = i == 7
        persons.append(person)
    return persons


def expected_touchpoints(person: Person) -> list[dict]:
    """The person's touchpoints by the SPEC's rules, with the FT/LC flags and U-shape percentage."""
    sessions = sorted(person.sessions, key=lambda s: s.start)
    chosen = [s for i, s in enumerate(sessions) if i == 0 or s.form_at]
    touchpoints = [
        {
            "date": s.form_at or s.start,
            "channel": s.channel,
            "type": "Web Form" if s.form_at else "Web Visit",
            "is_first_touch": i == 0,
        }
        for i, s in enumerate(chosen)
    ]
    before_creation = [t for t in touchpoints if t["date"] <= person.created + LC_TOLERANCE]
    lc = max(before_creation, key=lambda t: t["date"]) if before_creation else None
    for t in touchpoints:
        t["is_lead_creation_touch"] = t is lc
        if t["is_first_touch"] and (lc is None or t is lc):
            t["u_shape"] = 100
        else:
            t["u_shape"] = 50 if t["is_first_touch"] or t is lc else 0
    return touchpoints


def write_scenario(path: Path, persons: list[Person]) -> None:
    def at(value: datetime) -> str:
        return value.isoformat(sep=" ") + "+00"

    with duckdb.connect(str(path)) as con:
        leads = [
            {
                "id": p.marketo_id,
                "email": p.email,
                "created_at": at(p.created),
                "updated_at": at(p.created),
                "_read_at": at(p.created),
                "sfdc_type": "Lead" if p.sf_lead_id else None,
                "sfdc_lead_id": p.sf_lead_id,
            }
            for p in persons
        ]
        sf_leads = [
            {"id": p.sf_lead_id, "email": p.email, "created_date": at(p.created), "is_converted": False}
            for p in persons
            if p.sf_lead_id
        ]
        deleted = [{"id": p.marketo_id, "lead_id": p.marketo_id} for p in persons if p.is_deleted]
        write_table(con, "raw_marketo.leads", MARKETO_COLUMNS, leads)
        write_table(con, "raw_marketo.deleted_leads", {"id": "bigint", "lead_id": "bigint"}, deleted)
        write_table(con, "raw_salesforce.lead", SF_LEAD_COLUMNS, [{**r, "is_deleted": False} for r in sf_leads])
        write_table(con, "raw_salesforce.contact", SF_CONTACT_COLUMNS, [])
        write_table(con, "raw_salesforce.account", SF_ACCOUNT_COLUMNS, [])
        con.execute(WEB_DDL)
        n = 0
        for p in persons:
            for s in p.sessions:
                n += 1
                page, referrer = ARRIVALS[s.channel]
                con.execute(
                    "insert into raw_web.page_views values (?, ?, ?, ?, ?, 't', '10.0.0.1', 'Mozilla/5.0', ?)",
                    [f"pv{n}", s.cookie, at(s.start), page, referrer, LOAD_ID],
                )
                if s.form_at:
                    con.execute(
                        "insert into raw_web.form_submits values (?, ?, ?, 'https://acme.com/demo', ?, 'f', "
                        "'10.0.0.1', 'Mozilla/5.0', ?)",
                        [f"fs{n}", s.cookie, at(s.form_at), p.email.upper(), LOAD_ID],
                    )
        con.execute("insert into raw_web._dlt_loads values (?, 'web', 0, now())", [LOAD_ID])


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> tuple[Path, list[Person]]:
    persons = generate_scenario()
    path = tmp_path_factory.mktemp("measure") / "warehouse.duckdb"
    write_scenario(path, persons)
    run_dbt(["build", "--exclude", "test_type:unit"], path)
    return path, persons


def measure_query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()


# As a Measure user writes it: last calendar month, live touchpoints of reportable persons.
CHANNELS_LAST_MONTH = """
    select
        channel,
        count(*)                        as touchpoints,
        sum(u_shape_percentage) / 100   as u_shape_credit
    from biz_touchpoints
    where touchpoint_date >= date_trunc('month', current_date) - interval 1 month
        and touchpoint_date < date_trunc('month', current_date)
        and not is_deleted
        and not is_duplicate
    group by channel
    order by channel
"""


def test_channel_counts_of_last_months_touchpoints(scenario):
    path, persons = scenario
    this_month = datetime.now(UTC).replace(tzinfo=None, day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    counts, credit = Counter(), Counter()
    for p in persons:
        # the Salesforce twin's touchpoints are the same sessions; the Marketo duplicate is filtered out
        if p.is_deleted:
            continue
        for t in expected_touchpoints(p):
            if last_month <= t["date"] < this_month:
                counts[t["channel"]] += 1
                credit[t["channel"]] += t["u_shape"]
    expected = [(channel, counts[channel], credit[channel] / 100) for channel in sorted(counts)]
    assert sum(counts.values()) > 10, "the scenario should put touchpoints in last month"
    assert measure_query(path, CHANNELS_LAST_MONTH) == expected


JOURNEY = """
    select
        touchpoint_date,
        channel,
        marketing_touch_type,
        is_first_touch,
        is_lead_creation_touch,
        u_shape_percentage,
        source_system
    from biz_touchpoints
    where email = ?
        and not is_deleted
        and not is_duplicate
    order by touchpoint_date
"""


@pytest.mark.parametrize("synced", [False, True], ids=["marketo_only", "synced_to_salesforce"])
def test_the_whole_journey_of_one_email(scenario, synced):
    path, persons = scenario
    candidates = [p for p in persons if bool(p.sf_lead_id) == synced and not p.is_deleted]
    person = max(candidates, key=lambda p: (len(expected_touchpoints(p)), -p.marketo_id))
    assert len(expected_touchpoints(person)) >= 3, "pick an email with a journey"
    # a synced person is reported once, as its CRM record (B5)
    source = "Crm" if synced else "Marketo"
    expected = [
        (t["date"], t["channel"], t["type"], t["is_first_touch"], t["is_lead_creation_touch"], t["u_shape"], source)
        for t in expected_touchpoints(person)
    ]
    assert measure_query(path, JOURNEY, [person.email]) == expected


def test_lead_counts_per_source_system(scenario):
    """BIZ_LEADS as Measure users count it: live, non-duplicate leads by source system."""
    path, persons = scenario
    live = [p for p in persons if not p.is_deleted]
    expected = [("Crm", sum(1 for p in live if p.sf_lead_id)), ("Marketo", sum(1 for p in live if not p.sf_lead_id))]
    sql = """
        select source_system, count(*) from biz_leads
        where not is_deleted and not is_duplicate
        group by source_system order by source_system
    """
    assert measure_query(path, sql) == expected
