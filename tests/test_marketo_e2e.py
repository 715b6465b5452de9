"""Marketo persons end to end: emulator -> `python -m loaders marketo` -> DuckDB -> `dbt build` -> biz_leads /
biz_contacts, compared with the emulator's data both ways (B1, B7, B9, B12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from loaders.__main__ import main
from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_leads
from tests.support import query, run_dbt

START = (datetime.now(UTC) - timedelta(days=60)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def world(tmp_path, monkeypatch, warehouse):
    leads = generate_leads(300, seed=11, start=START, end=START + timedelta(days=58))
    with MarketoEmulator(leads, workdir=tmp_path / "emu", status_update_seconds=0) as emu:
        for key, value in {
            "BASE_URL": emu.base_url,
            "CLIENT_ID": emu.client_id,
            "CLIENT_SECRET": emu.client_secret,
            "START_DATE": START.isoformat(),
            "POLL_INTERVAL_SECONDS": "0.01",
            "ROLLING_WINDOW_DAYS": "70",
        }.items():
            monkeypatch.setenv(f"SOURCES__MARKETO__{key}", value)
        yield emu, leads, warehouse


def delete_some(emu: MarketoEmulator, leads: pd.DataFrame) -> tuple[list[int], list[int]]:
    """Deletes in Marketo after the first load: some now (their activities are in the delete feed), some as if
    a month had passed without a load (Marketo pruned their activities after 14 days)."""
    ids = [int(i) for i in leads["id"].sample(12, random_state=3)]
    recent, old = ids[:6], ids[6:]
    emu.delete_leads(recent)
    emu.delete_leads(old, when=datetime.now(UTC) - timedelta(days=30))
    return recent, old


def expected_marts(leads: pd.DataFrame, deleted_ids: set[int]) -> set[tuple]:
    rows = set()
    for r in leads.itertuples(index=False):
        email = None if pd.isna(r.email) or "@" not in r.email.strip()[1:] else r.email.strip().lower()
        mart = "contact" if (not pd.isna(r.sfdcType) and r.sfdcType == "Contact") else "lead"
        rows.add(
            (
                mart,
                str(r.id),
                email,
                None if pd.isna(r.company) or not r.company.strip() else r.company.strip(),
                None if pd.isna(r.leadStatus) else r.leadStatus,
                r.id in deleted_ids,
            )
        )
    return rows


def actual_marts(db) -> set[tuple]:
    return set(
        query(
            db,
            """
        select 'lead', id, email, company, bizible_stage, is_deleted from biz_leads
        union all
        select 'contact', c.id, c.email, l.company, c.bizible_stage, c.is_deleted
        from biz_contacts as c
        left join int_persons_unioned as l on l.person_id = c.id
    """,
        )
    )


def test_persons_land_in_biz_leads_and_biz_contacts_deleted_ones_flagged(world, monkeypatch):
    """B12: persons deleted in Marketo stay in the marts, flagged: those whose delete activity the feed still
    has, and those deleted before Marketo's retention window, found by the complete re-export (the B9 company
    refresh) not reading them."""
    emu, leads, db = world
    assert main(["marketo"]) == 0
    recent, old = delete_some(emu, leads)
    monkeypatch.setenv("SOURCES__MARKETO__COMPANY_REFRESH_DAYS", "0")
    assert main(["marketo"]) == 0
    run_dbt(["build"], db)
    expected, actual = expected_marts(leads, {*recent, *old}), actual_marts(db)
    assert expected - actual == set(), "persons missing or different in the marts"
    assert actual - expected == set(), "persons in the marts that the source does not have"
    assert query(db, "select distinct source_system, is_duplicate, is_converted from biz_leads") == [
        ("Marketo", False, False)
    ]
    (created_ok,) = query(db, "select count(*) = count(created_date) from biz_leads")[0]
    assert created_ok
    found = dict(query(db, "select lead_id, found_by from int_marketo_persons_deleted"))
    assert found == {
        **dict.fromkeys(map(str, recent), "delete_activity"),
        **dict.fromkeys(map(str, old), "absent_from_complete_export"),
    }


def test_a_reexport_stopped_part_way_flags_nobody_until_it_completes(world, monkeypatch):
    emu, leads, db = world
    assert main(["marketo"]) == 0
    _, old = delete_some(emu, leads)
    monkeypatch.setenv("SOURCES__MARKETO__COMPANY_REFRESH_DAYS", "0")
    emu.fail_next("/file.json", "607", after=1)  # the daily quota runs out after the refresh's first window
    assert main(["marketo"]) == 3
    deleted = "select lead_id, found_by from int_marketo_persons_deleted"
    run_dbt(["run", "--select", "+int_marketo_persons_deleted"], db)
    assert [r for r in query(db, deleted) if r[1] != "delete_activity"] == []
    assert main(["marketo"]) == 0  # the refresh resumes at its second window and completes
    run_dbt(["run", "--select", "+int_marketo_persons_deleted"], db)
    assert {(str(i), "absent_from_complete_export") for i in old} <= set(query(db, deleted))


def test_company_change_without_updated_at_reaches_biz_leads(world, monkeypatch):
    """B9: Marketo does not bump updatedAt when company fields change; the refresh still brings them in."""
    emu, leads, db = world
    assert main(["marketo"]) == 0
    lead = leads[leads["sfdcType"].isna()].iloc[0]
    emu.set_company_fields(int(lead["id"]), company="Acquired Corp", website="https://acquired.example")
    monkeypatch.setenv("SOURCES__MARKETO__COMPANY_REFRESH_DAYS", "0")
    assert main(["marketo"]) == 0
    run_dbt(["build"], db)
    assert query(db, f"select company, web_site, modified_date from biz_leads where id = '{lead['id']}'") == [
        ("Acquired Corp", "https://acquired.example", lead["updatedAt"].tz_convert(None).to_pydatetime())
    ]
