"""The bench's reference script (bench/plain.sql, the dbt rules as one plain DuckDB SQL script) gives exactly
the marts `dbt build` gives, on a small generated warehouse with every source: Marketo persons with company
re-reads and deletes, Salesforce and Dynamics persons and accounts (some deleted), web events (one load not
completed). If a rule drifts on either side, this fails with the differing rows."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest

from bench import plain
from sandbox.crm import generate_crm
from sandbox.people import generate_deleted, generate_leads
from sandbox.web_events import generate_web_events
from tests.support import run_dbt

START = datetime(2026, 1, 1, tzinfo=UTC)
END = START + timedelta(days=58)


def snake(frame: pd.DataFrame) -> pd.DataFrame:
    """dlt's column names: createdAt -> created_at, LastModifiedDate -> last_modified_date."""
    return frame.rename(columns=lambda c: re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", c).lower())


def write_raw(db, one_page_view_per_session: bool = False) -> None:
    sf_part = generate_leads(300, seed=5, start=START, end=END)
    dyn_part = generate_leads(200, seed=6, start=START, end=END, with_dynamics=True)
    dyn_part["id"] += 1_000_000
    dyn_part["email"] = dyn_part["email"].str.replace("@", ".d@", n=1, regex=False)
    leads = pd.concat([sf_part, dyn_part], ignore_index=True)
    crm = generate_crm(leads, seed=5)
    page_views, form_submits = generate_web_events(
        leads, 6_000, seed=5, start=START, end=END, one_page_view_per_session=one_page_view_per_session
    )
    deleted = pd.DataFrame(generate_deleted(leads, 0.03, seed=5))
    # a repeated delete and a delete of an id never loaded
    deleted = pd.concat(
        [deleted, deleted.head(2), pd.DataFrame([{"leadId": 99_999_999, "activityDate": END}])], ignore_index=True
    )
    deleted["id"] = range(len(deleted))
    read_at = pd.Timestamp(START)
    marketo = snake(leads[[c for c in leads.columns if c not in ("dateOfBirth",)]]).assign(_read_at=read_at)
    # B9: a later company read for some persons, an earlier one for others (ignored)
    company = marketo[["id", "company", "website"]].iloc[::7].copy()
    company["company"] = company["company"].str.upper() + " Re-read"
    company["_read_at"] = [read_at + timedelta(days=1 if i % 2 else -1) for i in range(len(company))]
    # the sync and a CRM link that carry 15-character Salesforce ids (the same records)
    synced = marketo["sfdc_lead_id"].notna()
    marketo.loc[synced[synced].index[::13], "sfdc_lead_id"] = marketo["sfdc_lead_id"].str[:15]
    # a complete re-export of one day of createdAt, which read the persons re-read since and none of the others
    created = marketo["created_at"]
    day = (created >= START + timedelta(days=5)) & (created <= START + timedelta(days=6))
    exports = pd.DataFrame(
        [
            {
                "created_from": START + timedelta(days=5),
                "created_to": START + timedelta(days=6),
                "read_from": read_at + timedelta(hours=12),
                "completed_at": read_at + timedelta(hours=13),
            }
        ]
    )
    rejected = pd.DataFrame({"id": [str(marketo.loc[day, "id"].iloc[0])], "_read_at": [read_at + timedelta(days=2)]})
    sf_lead, sf_contact, sf_account = (snake(crm[k]).copy() for k in ("sf_lead", "sf_contact", "sf_account"))
    sf_contact.loc[sf_contact.index[::4], "account_id"] = sf_contact["account_id"].str[:15]
    sf_lead.loc[sf_lead.index[::11], "is_deleted"] = True
    sf_account.loc[sf_account.index[::5], "is_deleted"] = True
    sf_account.loc[sf_account.index[1], "website"] = "https://www.gmail.com/"
    dyn_leads, dyn_contacts, dyn_accounts = (crm[k].copy() for k in ("dyn_leads", "dyn_contacts", "dyn_accounts"))
    dyn_contacts["is_deleted"] = [i % 9 == 0 for i in range(len(dyn_contacts))]
    page_views["_dlt_load_id"] = "load-1"
    form_submits["_dlt_load_id"] = "load-1"
    # a load dlt has not completed: its rows wait for the next run
    late = page_views.tail(50).copy()
    late["id"] = late["id"] + "-late"
    late["_dlt_load_id"] = "load-2"
    page_views = pd.concat([page_views, late], ignore_index=True)
    form_submits.loc[form_submits.index[:3], "email"] = "not-an-email"
    loads = pd.DataFrame({"load_id": ["load-1", "load-2"], "schema_name": "web", "status": [0, 1]})
    tables = {
        "raw_marketo.leads": marketo,
        "raw_marketo.deleted_leads": snake(deleted),
        "raw_marketo.lead_company_fields": company,
        "raw_marketo.complete_exports": exports,
        "raw_marketo.leads_rejected": rejected,
        "raw_salesforce.lead": sf_lead,
        "raw_salesforce.contact": sf_contact,
        "raw_salesforce.account": sf_account,
        "raw_dynamics.leads": dyn_leads,
        "raw_dynamics.contacts": dyn_contacts,
        "raw_dynamics.accounts": dyn_accounts,
        "raw_web.page_views": page_views,
        "raw_web.form_submits": form_submits,
        "raw_web._dlt_loads": loads,
    }
    with duckdb.connect(str(db)) as con:
        con.execute("set TimeZone = 'UTC'")
        for name, frame in tables.items():
            con.execute(f"create schema if not exists {name.split('.')[0]}")
            con.register("frame", frame)
            con.execute(f"create table {name} as select * from frame")
            con.unregister("frame")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    db = tmp_path_factory.mktemp("plain") / "warehouse.duckdb"
    write_raw(db)
    # seeds and models: the marts under comparison (the data tests run elsewhere)
    run_dbt(["build", "--exclude-resource-type", "test", "unit_test"], db)
    plain.run(db)
    return db


def test_plain_script_matches_dbt(built):
    assert plain.check(built) == []
    with duckdb.connect(str(built), read_only=True) as con:
        # the scenario reaches the rules it claims to (duplicates, deletes, accounts, touchpoints, CRM persons)
        counts = con.execute(
            "select count(*) filter (is_duplicate), count(*) filter (is_deleted), count(account_id), "
            "count(*) filter (source_system = 'Crm') from main.biz_leads"
        ).fetchone()
        assert all(n > 0 for n in counts), counts
        (absent,) = con.execute(
            "select count(*) from main.int_marketo_persons_deleted where found_by = 'absent_from_complete_export'"
        ).fetchone()
        assert absent > 0
        (lc_touches,) = con.execute("select count(*) from main.biz_touchpoints where is_lead_creation_touch").fetchone()
        assert lc_touches > 0


def test_check_reports_a_difference(built, tmp_path):
    """The comparison can fail: one changed value in one plain mart is reported, naming the mart."""
    copy = tmp_path / "copy.duckdb"
    shutil.copy(built, copy)
    with duckdb.connect(str(copy)) as con:
        con.execute(
            "update plain.biz_sessions set channel = 'Direct' "
            "where id = (select min(id) from plain.biz_sessions where channel <> 'Direct')"
        )
    problems = plain.check(copy)
    assert [p.split(", e.g.")[0] for p in problems] == [
        "biz_sessions: 1 rows dbt only",
        "biz_sessions: 1 rows plain only",
    ], problems
