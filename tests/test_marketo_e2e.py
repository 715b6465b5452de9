"""Marketo persons end to end: emulator -> `python -m loaders marketo` -> DuckDB -> `dbt build` -> biz_leads /
biz_contacts, compared with the emulator's data both ways (B1, B7, B9, B12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from loaders.__main__ import main
from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_deleted, generate_leads
from tests.support import query, run_dbt

START = (datetime.now(UTC) - timedelta(days=60)).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def world(tmp_path, monkeypatch, warehouse):
    leads = generate_leads(300, seed=11, start=START, end=START + timedelta(days=58))
    deleted = generate_deleted(leads, fraction=0.05, seed=11)
    with MarketoEmulator(leads, deleted, workdir=tmp_path / "emu") as emu:
        for key, value in {
            "BASE_URL": emu.base_url,
            "CLIENT_ID": emu.client_id,
            "CLIENT_SECRET": emu.client_secret,
            "START_DATE": START.isoformat(),
            "POLL_INTERVAL_SECONDS": "0.01",
            "ROLLING_WINDOW_DAYS": "70",
        }.items():
            monkeypatch.setenv(f"SOURCES__MARKETO__{key}", value)
        yield emu, leads, deleted, warehouse


def expected_marts(leads: pd.DataFrame, deleted: list[dict]) -> set[tuple]:
    deleted_ids = {d["leadId"] for d in deleted}
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


def test_persons_land_in_biz_leads_and_biz_contacts(world):
    emu, leads, deleted, db = world
    assert main(["marketo"]) == 0
    run_dbt(["build"], db)
    expected, actual = expected_marts(leads, deleted), actual_marts(db)
    assert expected - actual == set(), "persons missing or different in the marts"
    assert actual - expected == set(), "persons in the marts that the source does not have"
    assert query(db, "select distinct source_system, is_duplicate, is_converted from biz_leads") == [
        ("Marketo", False, False)
    ]
    (created_ok,) = query(db, "select count(*) = count(created_date) from biz_leads")[0]
    assert created_ok


def test_company_change_without_updated_at_reaches_biz_leads(world, monkeypatch):
    """B9: Marketo does not bump updatedAt when company fields change; the refresh still brings them in."""
    emu, leads, _, db = world
    assert main(["marketo"]) == 0
    lead = leads[leads["sfdcType"].isna()].iloc[0]
    emu.set_company_fields(int(lead["id"]), company="Acquired Corp", website="https://acquired.example")
    monkeypatch.setenv("SOURCES__MARKETO__COMPANY_REFRESH_DAYS", "0")
    assert main(["marketo"]) == 0
    run_dbt(["build"], db)
    assert query(db, f"select company, web_site, modified_date from biz_leads where id = '{lead['id']}'") == [
        ("Acquired Corp", "https://acquired.example", lead["updatedAt"].tz_convert(None).to_pydatetime())
    ]
