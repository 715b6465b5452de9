"""Every source end to end, with the sandbox generator's answer keys: Marketo, Salesforce and Dynamics emulators
-> the three loaders -> DuckDB -> `dbt build` -> duplicates (B5), dangling ids, CRM-only persons, conversions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from loaders.__main__ import main
from sandbox.crm import generate_crm
from sandbox.dynamics import DynamicsEmulator
from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_leads
from sandbox.salesforce import SalesforceEmulator
from tests.support import query, run_dbt

START = (datetime.now(UTC) - timedelta(days=60)).replace(hour=0, minute=0, second=0, microsecond=0)


def synced_id(row: pd.Series, prefix: str) -> str | None:
    """The CRM id the sync type selects (SPEC: Persons and duplicates)."""
    kind = row.get(f"{prefix}Type")
    lead, contact = row.get(f"{prefix}LeadId"), row.get(f"{prefix}ContactId")
    lead = None if pd.isna(lead) else lead
    contact = None if pd.isna(contact) else contact
    if kind == "Contact":
        return contact
    if kind == "Lead":
        return lead
    return lead or contact


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("all")
    db = tmp / "warehouse.duckdb"
    sf_part = generate_leads(150, seed=5, start=START, end=START + timedelta(days=58))
    dyn_part = generate_leads(100, seed=6, start=START, end=START + timedelta(days=58), with_dynamics=True)
    dyn_part["id"] += 1_000_000
    dyn_part["email"] = dyn_part["email"].str.replace("@", ".d@", n=1, regex=False)
    leads = pd.concat([sf_part, dyn_part], ignore_index=True)
    crm = generate_crm(leads, seed=5)
    env = {"DUCKDB_PATH": str(db), "LOADERS_PIPELINES_DIR": str(tmp / "pipelines")}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    try:
        with MarketoEmulator(leads, workdir=tmp / "emu", status_update_seconds=0) as mkto:
            for key, value in {
                "BASE_URL": mkto.base_url,
                "CLIENT_ID": mkto.client_id,
                "CLIENT_SECRET": mkto.client_secret,
                "START_DATE": START.isoformat(),
                "POLL_INTERVAL_SECONDS": "0.01",
            }.items():
                mp.setenv(f"SOURCES__MARKETO__{key}", value)
            assert main(["marketo"]) == 0
        with SalesforceEmulator(crm["sf_lead"], crm["sf_contact"], crm["sf_account"]) as sf:
            for key, value in {
                "BASE_URL": sf.base_url,
                "CLIENT_ID": sf.client_id,
                "CLIENT_SECRET": sf.client_secret,
            }.items():
                mp.setenv(f"SOURCES__SALESFORCE__{key}", value)
            assert main(["salesforce"]) == 0
        with DynamicsEmulator(crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"]) as dyn:
            for key, value in {
                "BASE_URL": dyn.base_url,
                "TOKEN_URL": dyn.token_url,
                "CLIENT_ID": dyn.client_id,
                "CLIENT_SECRET": dyn.client_secret,
            }.items():
                mp.setenv(f"SOURCES__DYNAMICS__{key}", value)
            assert main(["dynamics"]) == 0
        run_dbt(["build", "--exclude-resource-type", "unit_test"], db)
    finally:
        mp.undo()
    return db, leads, crm


def test_duplicates_are_exactly_the_synced_persons_whose_crm_record_exists(built):
    db, leads, crm = built
    dangling = set(crm["dangling"]["marketo_id"].astype(str))
    expected = {}
    for _, row in leads.iterrows():
        crm_id = synced_id(row, "sfdc") or (synced_id(row, "msft") if "msftType" in row else None)
        if crm_id and str(row["id"]) not in dangling:
            expected[str(row["id"])] = crm_id
    actual = dict(
        query(
            db,
            "select id, other_system_id from biz_leads where source_system = 'Marketo' and is_duplicate "
            "union all select id, other_system_id from biz_contacts "
            "where source_system = 'Marketo' and is_duplicate",
        )
    )
    assert actual == expected
    assert set(query(db, "select person_id from dq_marketo_dangling_crm_ids")) == {(d,) for d in dangling}


def test_crm_only_and_converted_leads(built):
    db, _, crm = built
    crm_persons = {
        row[0]
        for row in query(
            db,
            "select lower(id) from biz_leads where source_system = 'Crm' "
            "union all select lower(id) from biz_contacts where source_system = 'Crm'",
        )
    }
    assert {str(i).lower() for i in crm["crm_only"]["id"]} <= crm_persons
    converted = dict(
        query(db, "select id, converted_contact_id from biz_leads where is_converted and crm_system = 'salesforce'")
    )
    # leads converted after the sync (the answer key) are converted, pointing at their new contact ...
    after_sync = dict(zip(crm["converted"]["lead_id"], crm["converted"]["contact_id"], strict=True))
    assert after_sync.items() <= converted.items()
    # ... and every converted lead (also those converted before the sync) names a contact that was loaded
    contacts = {row[0] for row in query(db, "select id from biz_contacts where source_system = 'Crm'")}
    assert set(converted.values()) <= contacts


def test_every_crm_twin_names_its_marketo_person(built):
    db, _, _ = built
    (orphans,) = query(
        db,
        """
        select count(*) from biz_leads as m
        left join (
            select id, other_system_id from biz_leads union all select id, other_system_id from biz_contacts
        ) as c
            on c.id = m.other_system_id
        where m.source_system = 'Marketo' and m.is_duplicate and c.other_system_id is null
    """,
    )[0]
    assert orphans == 0
