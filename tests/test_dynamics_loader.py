"""`python -m loaders dynamics` against the Dataverse emulator, into a real DuckDB file."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from loaders.__main__ import main
from sandbox.crm import Response, generate_crm
from sandbox.dynamics import PRIMARY_KEYS, DynamicsEmulator
from tests.support import query

SECRET = "dyn-s3cr3t-never-logged"
COLUMNS = {
    "leads": [
        "leadid",
        "emailaddress1",
        "companyname",
        "websiteurl",
        "statecode",
        "statuscode",
        "leadsourcecode",
        "_parentaccountid_value",
        "_parentcontactid_value",
        "createdon",
        "modifiedon",
    ],
    "contacts": [
        "contactid",
        "emailaddress1",
        "_parentcustomerid_value",
        "leadsourcecode",
        "statecode",
        "createdon",
        "modifiedon",
    ],
    "accounts": ["accountid", "name", "websiteurl", "statecode", "createdon", "modifiedon"],
}


def guid(kind: int, i: int) -> str:
    return f"{kind:08x}-0000-4000-a000-{i:012x}"


def persons(n: int = 200) -> pd.DataFrame:
    """Marketo-shaped persons synced to Dynamics: two in three as leads, the rest as contacts."""
    base = pd.Timestamp("2025-03-01", tz="UTC")
    ids = range(1, n + 1)
    return pd.DataFrame(
        {
            "id": list(ids),
            "email": [f"p{i}@globex{i % 20}.com" for i in ids],
            "company": [f"Globex {i % 20}" for i in ids],
            "website": [f"https://globex{i % 20}.com" for i in ids],
            "createdAt": [base - pd.Timedelta(hours=i // 2) for i in ids],
            # ties on modifiedon: paging and the `ge` cursor must cope
            "updatedAt": [base - pd.Timedelta(minutes=i // 5) for i in ids],
            "msftType": ["Lead" if i % 3 else "Contact" for i in ids],
            "msftLeadId": [guid(1, i) if i % 3 or i % 6 == 0 else None for i in ids],  # some converted
            "msftContactId": [None if i % 3 else guid(3, i) for i in ids],
            "msftAccountId": [None if i % 3 else guid(2, i % 20) for i in ids],
        }
    )


@pytest.fixture
def emulator(monkeypatch):
    crm = generate_crm(persons(), seed=2)
    with DynamicsEmulator(
        crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"], client_id="app", client_secret=SECRET
    ) as emu:
        monkeypatch.setenv("SOURCES__DYNAMICS__BASE_URL", emu.base_url)
        monkeypatch.setenv("SOURCES__DYNAMICS__TOKEN_URL", emu.token_url)
        monkeypatch.setenv("SOURCES__DYNAMICS__CLIENT_ID", "app")
        monkeypatch.setenv("SOURCES__DYNAMICS__CLIENT_SECRET", SECRET)
        monkeypatch.setenv("SOURCES__DYNAMICS__PAGE_SIZE", "30")
        monkeypatch.setenv("SOURCES__DYNAMICS__BACKOFF_BASE", "0.01")
        yield emu


def loaded(warehouse, entity: str, where: str = "true") -> set[tuple]:
    cols = ", ".join(COLUMNS[entity])
    rows = query(warehouse, f"select {cols}, is_deleted from raw_dynamics.{entity} where {where}")
    return {tuple(v.astimezone(UTC) if isinstance(v, datetime) else v for v in row) for row in rows}


def assert_matches(emu: DynamicsEmulator, warehouse) -> None:
    """Live rows equal the emulator's records both ways; nothing duplicated."""
    for entity in COLUMNS:
        want = {(*(r.get(c) for c in COLUMNS[entity]), False) for r in emu.records(entity)}
        got = loaded(warehouse, entity, "not is_deleted")
        assert want - got == set(), f"{entity}: in the emulator, not loaded"
        assert got - want == set(), f"{entity}: loaded, not in the emulator"
        key = PRIMARY_KEYS[entity]
        assert query(warehouse, f"select count(*) - count(distinct {key}) from raw_dynamics.{entity}") == [(0,)]


def test_full_load_equals_emulator_then_second_run_loads_nothing(emulator, warehouse, capsys):
    assert main(["dynamics", "-v"]) == 0
    assert_matches(emulator, warehouse)
    assert emulator.stats["next_page"] > 3  # paging by @odata.nextLink really happened
    lookups = "select count(*) from raw_dynamics.leads where _parentaccountid_value is not null"
    assert query(warehouse, lookups) == [(sum(1 for i in range(1, 201) if i % 6 == 0),)]
    first = query(warehouse, "select _dlt_load_id, count(*) from raw_dynamics.leads group by 1")
    assert main(["dynamics"]) == 0
    assert_matches(emulator, warehouse)
    assert query(warehouse, "select _dlt_load_id, count(*) from raw_dynamics.leads group by 1") == first
    err = capsys.readouterr().err
    assert "loaded nothing new; 0 newly deleted" in err
    assert SECRET not in err


def test_update_and_delete_are_picked_up_exactly(emulator, warehouse, capsys):
    assert main(["dynamics"]) == 0
    lead = emulator.records("leads")[4]
    contact = emulator.records("contacts")[2]
    emulator.upsert("leads", [{"leadid": lead["leadid"], "emailaddress1": "new@globex4.com", "statuscode": 2}])
    emulator.delete("contacts", [contact["contactid"]])
    capsys.readouterr()

    assert main(["dynamics"]) == 0
    err = capsys.readouterr().err
    assert "loaded contacts 1, leads 1; 1 newly deleted" in err
    assert_matches(emulator, warehouse)
    assert query(
        warehouse,
        "select emailaddress1, statuscode from raw_dynamics.leads where leadid = ?",
        [lead["leadid"]],
    ) == [("new@globex4.com", 2)]
    # the deleted contact is kept as it was, flagged
    kept = loaded(warehouse, "contacts", f"contactid = '{contact['contactid']}'")
    assert kept == {(*(contact[c] for c in COLUMNS["contacts"]), True)}

    assert main(["dynamics"]) == 0
    assert "loaded nothing new; 0 newly deleted" in capsys.readouterr().err


def test_expired_token_mid_run_is_refreshed(emulator, warehouse):
    def expire() -> Response:
        emulator.expire_tokens()
        return Response(401, b"", {"WWW-Authenticate": 'Bearer error="invalid_token"'})

    emulator.fail_with("skiptoken", expire)
    assert main(["dynamics"]) == 0
    assert emulator.stats["token"] == 2
    assert_matches(emulator, warehouse)


def test_persistent_error_keeps_pages_read_and_the_next_run_resumes(emulator, warehouse, capsys):
    emulator.fail_next("skiptoken", 500, times=1000)
    assert main(["dynamics"]) == 2
    assert "What was read before the error is loaded" in capsys.readouterr().err
    assert query(warehouse, "select count(*) from raw_dynamics.leads") == [(30,)]
    emulator.clear_faults()
    assert main(["dynamics"]) == 0
    assert_matches(emulator, warehouse)


def test_throttling_honours_retry_after(emulator, warehouse):
    emulator.throttle(times=2, retry_after=1)
    started = datetime.now(UTC)
    assert main(["dynamics"]) == 0
    assert (datetime.now(UTC) - started).total_seconds() >= 2
    assert emulator.stats["throttled"] == 2
    assert_matches(emulator, warehouse)


def test_long_throttle_stops_cleanly_then_resumes(emulator, warehouse, monkeypatch, capsys):
    monkeypatch.setenv("SOURCES__DYNAMICS__MAX_RETRY_AFTER", "5")
    # the first page of leads goes through, then Dataverse asks for a 10-minute pause
    emulator.fail_with("skiptoken", lambda: throttle_response(600), times=1000)
    assert main(["dynamics"]) == 3
    err = capsys.readouterr().err
    assert "throttled" in err and "resumes" in err
    assert query(warehouse, "select count(*) from raw_dynamics.leads") == [(30,)]
    emulator.clear_faults()
    assert main(["dynamics"]) == 0
    assert_matches(emulator, warehouse)


def throttle_response(seconds: int) -> Response:
    return Response(429, {"error": {"code": "0x80072322", "message": "throttled"}}, {"Retry-After": str(seconds)})


def test_page_failing_once_and_cut_connection_are_retried(emulator, warehouse):
    emulator.fail_next("skiptoken", 503, "0x80040216")
    emulator.cut_connection("/api/data/v9.2/contacts")
    assert main(["dynamics"]) == 0
    assert emulator.stats["faults"] == 2
    assert_matches(emulator, warehouse)


def test_value_that_cannot_be_typed_lands_in_rejected(emulator, warehouse):
    lead_id = emulator.records("leads")[0]["leadid"]
    emulator.upsert("leads", [{"leadid": lead_id, "statecode": "open"}])
    assert main(["dynamics"]) == 0
    assert query(warehouse, "select statecode from raw_dynamics.leads where leadid = ?", [lead_id]) == [(None,)]
    assert query(warehouse, "select entity, record_id, field, raw_value from raw_dynamics._rejected") == [
        ("leads", lead_id, "statecode", "open")
    ]


def test_bad_credentials_are_a_clear_error(emulator, warehouse, monkeypatch, capsys):
    monkeypatch.setenv("SOURCES__DYNAMICS__CLIENT_SECRET", "wrong-secret")
    assert main(["dynamics"]) == 2
    err = capsys.readouterr().err
    assert "invalid_client" in err and "CLIENT_SECRET" in err and "wrong-secret" not in err
