"""`python -m loaders salesforce` against the Salesforce emulator, into a real DuckDB file."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from itertools import pairwise

import pandas as pd
import pytest

from loaders.__main__ import main
from sandbox.crm import Response, generate_crm
from sandbox.salesforce import SalesforceEmulator
from tests.support import REPO, query

SECRET = "s3cr3t-value-never-logged"
COLUMNS = {
    "lead": [
        "Id",
        "Email",
        "Company",
        "Website",
        "Status",
        "LeadSource",
        "IsConverted",
        "ConvertedContactId",
        "ConvertedAccountId",
        "ConvertedDate",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
    ],
    "contact": [
        "Id",
        "Email",
        "AccountId",
        "LeadSource",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "IsDeleted",
    ],
    "account": ["Id", "Name", "Website", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"],
}
SNAKE = {
    "Id": "id",
    "Email": "email",
    "Company": "company",
    "Website": "website",
    "Status": "status",
    "LeadSource": "lead_source",
    "IsConverted": "is_converted",
    "ConvertedContactId": "converted_contact_id",
    "ConvertedAccountId": "converted_account_id",
    "ConvertedDate": "converted_date",
    "CreatedDate": "created_date",
    "LastModifiedDate": "last_modified_date",
    "SystemModstamp": "system_modstamp",
    "IsDeleted": "is_deleted",
    "AccountId": "account_id",
    "Name": "name",
}


def persons(n: int = 240) -> pd.DataFrame:
    """Marketo-shaped persons: two in three synced as Salesforce leads, the rest as contacts."""
    base = pd.Timestamp("2025-03-01", tz="UTC")
    ids = range(1, n + 1)
    return pd.DataFrame(
        {
            "id": list(ids),
            "email": [f"p{i}@acme{i % 30}.com" for i in ids],
            "company": [f"Acme {i % 30}" for i in ids],
            "website": [f"https://www.acme{i % 30}.com" for i in ids],
            # many persons share a second so that paging and the >= cursor meet ties
            "createdAt": [base - pd.Timedelta(hours=i // 3) for i in ids],
            "updatedAt": [base - pd.Timedelta(minutes=i // 4) for i in ids],
            "sfdcType": ["Lead" if i % 3 else "Contact" for i in ids],
            "sfdcLeadId": [f"00Q5g0000{i:09d}" if i % 3 else None for i in ids],
            "sfdcContactId": [None if i % 3 else f"0035g0000{i:09d}" for i in ids],
            "sfdcAccountId": [None if i % 3 else f"0015g0000{i % 30:09d}" for i in ids],
        }
    )


@pytest.fixture
def emulator(monkeypatch):
    crm = generate_crm(persons(), seed=1)
    lead = crm["sf_lead"].assign(Region__c="EMEA")
    with SalesforceEmulator(
        lead, crm["sf_contact"], crm["sf_account"], client_id="cid", client_secret=SECRET, page_size=40
    ) as emu:
        monkeypatch.setenv("SOURCES__SALESFORCE__BASE_URL", emu.base_url)
        monkeypatch.setenv("SOURCES__SALESFORCE__CLIENT_ID", "cid")
        monkeypatch.setenv("SOURCES__SALESFORCE__CLIENT_SECRET", SECRET)
        monkeypatch.setenv("SOURCES__SALESFORCE__BACKOFF_BASE", "0.01")
        yield emu


def expected(emu: SalesforceEmulator, table: str) -> set[tuple]:
    rows = set()
    for record in emu.records(table.capitalize()):
        values = []
        for name in COLUMNS[table]:
            value = record.get(name)
            if isinstance(value, datetime):
                value = value.astimezone(UTC).replace(microsecond=value.microsecond // 1000 * 1000)
            values.append(value)
        rows.add(tuple(values))
    return rows


def loaded(warehouse, table: str) -> set[tuple]:
    cols = ", ".join(SNAKE[c] for c in COLUMNS[table])
    rows = query(warehouse, f"select {cols} from raw_salesforce.{table}")
    return {tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in row) for row in rows}


def assert_matches(emu: SalesforceEmulator, warehouse) -> None:
    for table in COLUMNS:
        want, got = expected(emu, table), loaded(warehouse, table)
        assert want - got == set(), f"{table}: in the emulator, not loaded"
        assert got - want == set(), f"{table}: loaded, not in the emulator"
        assert query(warehouse, f"select count(*) - count(distinct id) from raw_salesforce.{table}") == [(0,)]


def load_ids(warehouse) -> list[str]:
    return [r[0] for r in query(warehouse, "select load_id from raw_salesforce._dlt_loads order by 1")]


def test_full_load_equals_emulator_then_second_run_loads_nothing(emulator, warehouse, capsys):
    assert main(["salesforce", "-v"]) == 0
    assert_matches(emulator, warehouse)
    assert emulator.stats["query_more"] > 3  # paging by nextRecordsUrl really happened
    # custom fields are off by default
    columns = {
        r[0]
        for r in query(
            warehouse,
            "select column_name from information_schema.columns "
            "where table_schema = 'raw_salesforce' and table_name = 'lead'",
        )
    }
    assert "region__c" not in columns

    first = {t: query(warehouse, f"select _dlt_load_id, count(*) from raw_salesforce.{t} group by 1") for t in COLUMNS}
    assert main(["salesforce"]) == 0
    assert_matches(emulator, warehouse)
    again = {t: query(warehouse, f"select _dlt_load_id, count(*) from raw_salesforce.{t} group by 1") for t in COLUMNS}
    assert again == first, "the second run rewrote rows it already had"
    err = capsys.readouterr().err
    assert "loaded nothing new" in err
    assert SECRET not in err


def test_update_and_delete_are_picked_up_exactly(emulator, warehouse, capsys):
    assert main(["salesforce"]) == 0
    lead_id = emulator.records("Lead")[5]["Id"]
    contact_id = emulator.records("Contact")[3]["Id"]
    emulator.upsert("Lead", [{"Id": lead_id, "Email": "changed@acme1.com", "Status": "Working - Contacted"}])
    emulator.delete("Contact", [contact_id])
    new_account = {"Id": "0015g0000999999999", "Name": "New Co", "Website": "https://new.example"}
    emulator.upsert("Account", [new_account])
    capsys.readouterr()

    assert main(["salesforce"]) == 0
    assert "loaded account 1, contact 1, lead 1" in capsys.readouterr().err
    assert_matches(emulator, warehouse)
    assert query(warehouse, "select email, status from raw_salesforce.lead where id = ?", [lead_id]) == [
        ("changed@acme1.com", "Working - Contacted")
    ]
    # the deleted contact is kept, flagged
    assert query(
        warehouse,
        "select is_deleted, email is not null from raw_salesforce.contact where id = ?",
        [contact_id],
    ) == [(True, True)]


def test_custom_fields_on_request(emulator, warehouse, monkeypatch):
    monkeypatch.setenv("SOURCES__SALESFORCE__CUSTOM_FIELDS", "true")
    assert main(["salesforce", "--objects", "Lead"]) == 0
    assert query(warehouse, "select distinct region__c from raw_salesforce.lead") == [("EMEA",)]


def test_expired_token_mid_run_is_refreshed(emulator, warehouse):
    def expire() -> Response:
        emulator.expire_tokens()
        return Response(401, [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])

    emulator.fail_with("/query/01g", expire)
    assert main(["salesforce"]) == 0
    assert emulator.stats["token"] == 2
    assert_matches(emulator, warehouse)


def test_persistent_error_keeps_pages_read_and_the_next_run_resumes(emulator, warehouse, capsys):
    emulator.fail_next("/query/01g", 500, "UNKNOWN_EXCEPTION", times=1000)
    assert main(["salesforce"]) == 2
    assert "What was read before the error is loaded" in capsys.readouterr().err
    # Lead's first page (fewer than the batch size of 40, as Salesforce's pages often are) is kept
    assert query(warehouse, "select count(*) from raw_salesforce.lead") == [(emulator.page_sizes[0],)]
    emulator.clear_faults()
    assert main(["salesforce"]) == 0
    assert_matches(emulator, warehouse)


def test_request_limit_exceeded_stops_cleanly_and_resumes(emulator, warehouse, capsys):
    # the limit runs out after Lead's first page: that page is kept, the rest waits for the next run
    emulator.fail_next("/query/01g", 403, "REQUEST_LIMIT_EXCEEDED", times=1000, message="TotalRequests Limit exceeded.")
    assert main(["salesforce"]) == 3
    err = capsys.readouterr().err
    assert "daily API request limit" in err and "resumes" in err
    assert query(warehouse, "select count(*) from raw_salesforce.lead") == [(emulator.page_sizes[0],)]

    emulator.clear_faults()
    assert main(["salesforce"]) == 0
    assert_matches(emulator, warehouse)


def test_slows_down_as_the_orgs_api_allowance_runs_low_and_stops_before_it_is_spent(
    emulator, warehouse, monkeypatch, capsys
):
    """Sforce-Limit-Info says how much of the org's 24-hour allowance is used: past API_USAGE_SLOWDOWN the
    loader spaces its calls, at API_USAGE_STOP it stops cleanly, leaving the rest to the org's other
    integrations (the Marketo sync among them) instead of running into REQUEST_LIMIT_EXCEEDED."""
    emulator.daily_api_limit, emulator.api_usage = 1000, 900
    for key, value in {"API_USAGE_SLOWDOWN": "0.9", "API_USAGE_STOP": "0.91", "API_USAGE_MAX_WAIT": "0.3"}.items():
        monkeypatch.setenv(f"SOURCES__SALESFORCE__{key}", value)
    assert main(["salesforce"]) == 3
    err = capsys.readouterr().err
    assert "91% used" in err and "API_USAGE_STOP" in err and "resumes" in err
    assert emulator.api_usage == 910 and emulator.stats["errors"] == 0  # never refused by Salesforce
    # from the second call on, each waited 0.3 s x (usage - 90%) / (91% - 90%): 0.03 s, 0.06 s, ... 0.27 s
    gaps = [b - a for a, b in pairwise(emulator.call_times)]
    assert len(gaps) == 9 and all(gap >= 0.3 * k / 10 for k, gap in enumerate(gaps, start=1))
    schema_tables = "select table_name from information_schema.tables where table_schema = 'raw_salesforce'"
    tables = [t for (t,) in query(warehouse, schema_tables) if t in COLUMNS]
    loaded = sum(query(warehouse, f"select count(*) from raw_salesforce.{t}")[0][0] for t in tables)
    assert 0 < loaded < sum(len(emulator.records(t.capitalize())) for t in COLUMNS)

    emulator.api_usage = 0  # the rolling 24 hours freed requests
    assert main(["salesforce"]) == 0
    assert_matches(emulator, warehouse)


def test_page_failing_once_and_cut_connection_are_retried(emulator, warehouse):
    emulator.fail_next("/query/01g", 503, "SERVER_UNAVAILABLE")
    emulator.fail_next("queryAll", 500, "UNKNOWN_EXCEPTION")
    emulator.cut_connection("/query/01g")
    assert main(["salesforce"]) == 0
    assert emulator.stats["faults"] == 3
    assert_matches(emulator, warehouse)


def test_value_that_cannot_be_typed_lands_in_rejected(emulator, warehouse):
    lead_id = emulator.records("Lead")[0]["Id"]
    emulator.upsert("Lead", [{"Id": lead_id, "ConvertedDate": "someday"}])
    assert main(["salesforce"]) == 0
    assert query(warehouse, "select converted_date from raw_salesforce.lead where id = ?", [lead_id]) == [(None,)]
    assert query(warehouse, "select object, record_id, field, raw_value from raw_salesforce._rejected") == [
        ("Lead", lead_id, "ConvertedDate", "someday")
    ]


def test_bad_credentials_and_missing_config_are_clear_errors(emulator, warehouse, monkeypatch, capsys):
    monkeypatch.setenv("SOURCES__SALESFORCE__CLIENT_SECRET", "wrong")
    assert main(["salesforce"]) == 2
    err = capsys.readouterr().err
    assert "invalid_client" in err and "CLIENT_SECRET" in err and "wrong" not in err
    monkeypatch.delenv("SOURCES__SALESFORCE__BASE_URL")
    assert main(["salesforce"]) == 2
    assert "SOURCES__SALESFORCE__BASE_URL" in capsys.readouterr().err


def test_killed_run_resumes(emulator, warehouse):
    """A run killed mid-extract (SIGKILL, no chance to clean up) leaves state the next run completes from."""
    assert main(["salesforce", "--objects", "Account"]) == 0
    release = threading.Event()

    def hang() -> Response:
        release.wait(30)
        return Response(500, [{"message": "late", "errorCode": "UNKNOWN_EXCEPTION"}])

    emulator.fail_with("/query/01g", hang)
    proc = subprocess.Popen(
        [sys.executable, "-m", "loaders", "salesforce"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while emulator.stats["faults"] == 0 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert emulator.stats["faults"] == 1, "the run never reached the second page"
    finally:
        proc.kill()
        proc.wait()
        release.set()
    assert main(["salesforce"]) == 0
    assert_matches(emulator, warehouse)
