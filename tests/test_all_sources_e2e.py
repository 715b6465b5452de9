"""Every source end to end on every target, with the sandbox generator's answer keys: Marketo, Salesforce and
Dynamics emulators and web event files -> the four loaders (dlt's duckdb destination; `--destination postgres`;
`--destination filesystem`, Parquet under LAKE_PATH, for Spark) -> `dbt build` -> duplicates (B5), dangling
ids, CRM-only persons, conversions; and every mart of the Postgres and Spark builds equals DuckDB's."""

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
from sandbox.web_events import generate_web_events, write_event_files
from tests.conftest import engine_params
from tests.engines import SPARK_MODELS_ONLY, PostgresWarehouse, SparkWarehouse, Warehouse, mart_differences

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
def sources(tmp_path_factory):
    """The sandbox's persons, CRM records and web event files (the same for every engine) and answer keys."""
    sf_part = generate_leads(150, seed=5, start=START, end=START + timedelta(days=58))
    dyn_part = generate_leads(100, seed=6, start=START, end=START + timedelta(days=58), with_dynamics=True)
    dyn_part["id"] += 1_000_000
    dyn_part["email"] = dyn_part["email"].str.replace("@", ".d@", n=1, regex=False)
    leads = pd.concat([sf_part, dyn_part], ignore_index=True)
    events = tmp_path_factory.mktemp("events")
    page_views, form_submits = generate_web_events(leads, 1500, seed=5, start=START, end=START + timedelta(days=58))
    write_event_files(page_views, form_submits, events, fmt="jsonl", gzip=True)
    return leads, generate_crm(leads, seed=5), events


def load_every_source(warehouse: Warehouse, sources, pipelines) -> None:
    """The four loaders against the emulators, into the destination the warehouse's engine reads."""
    leads, crm, events = sources
    mp = pytest.MonkeyPatch()
    mp.setenv("LOADERS_PIPELINES_DIR", str(pipelines))
    destination: list[str] = []
    if isinstance(warehouse, PostgresWarehouse):
        destination = ["--destination", "postgres"]
        for key, value in warehouse.server.env(warehouse.database).items():
            mp.setenv(key, value)
    elif isinstance(warehouse, SparkWarehouse):
        destination = ["--destination", "filesystem"]
        mp.setenv("LAKE_PATH", str(warehouse.lake))
    else:
        mp.setenv("DUCKDB_PATH", str(warehouse.raw))
    try:
        with MarketoEmulator(leads, workdir=pipelines / "emu", status_update_seconds=0) as mkto:
            for key, value in {
                "BASE_URL": mkto.base_url,
                "CLIENT_ID": mkto.client_id,
                "CLIENT_SECRET": mkto.client_secret,
                "START_DATE": START.isoformat(),
                "POLL_INTERVAL_SECONDS": "0.01",
            }.items():
                mp.setenv(f"SOURCES__MARKETO__{key}", value)
            assert main(["marketo", *destination]) == 0
        with SalesforceEmulator(crm["sf_lead"], crm["sf_contact"], crm["sf_account"]) as sf:
            for key, value in {
                "BASE_URL": sf.base_url,
                "CLIENT_ID": sf.client_id,
                "CLIENT_SECRET": sf.client_secret,
            }.items():
                mp.setenv(f"SOURCES__SALESFORCE__{key}", value)
            assert main(["salesforce", *destination]) == 0
        with DynamicsEmulator(crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"]) as dyn:
            for key, value in {
                "BASE_URL": dyn.base_url,
                "TOKEN_URL": dyn.token_url,
                "CLIENT_ID": dyn.client_id,
                "CLIENT_SECRET": dyn.client_secret,
            }.items():
                mp.setenv(f"SOURCES__DYNAMICS__{key}", value)
            assert main(["dynamics", *destination]) == 0
        mp.setenv("SOURCES__WEB__BUCKET_URL", str(events))
        assert main(["web", *destination]) == 0
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def e2e(tmp_path_factory, new_warehouse, sources):
    """e2e(engine): the sources loaded and built on that engine, once per module."""
    built: dict[str, Warehouse] = {}

    def build(engine: str) -> Warehouse:
        if engine not in built:
            workdir = tmp_path_factory.mktemp(f"e2e_{engine}")
            warehouse = new_warehouse(engine, workdir, "e2e")
            load_every_source(warehouse, sources, workdir / "pipelines")
            warehouse.dbt(SPARK_MODELS_ONLY if engine == "spark" else ["build", "--exclude-resource-type", "unit_test"])
            built[engine] = warehouse
        return built[engine]

    return build


@pytest.fixture(scope="module", params=engine_params())
def built(request, e2e, sources):
    leads, crm, _ = sources
    return e2e(request.param), leads, crm


@pytest.mark.parametrize("engine", engine_params("postgres", "spark"))
def test_same_marts_as_duckdb(e2e, engine):
    # every load is a dlt load of its own: its id is the only column that may differ
    assert mart_differences(e2e("duckdb"), e2e(engine), ignore={"_dlt_load_id"}) == {}


def test_duplicates_are_exactly_the_synced_persons_whose_crm_record_exists(built):
    db, leads, crm = built
    dangling = set(crm["dangling"]["marketo_id"].astype(str))
    expected = {}
    for _, row in leads.iterrows():
        crm_id = synced_id(row, "sfdc") or (synced_id(row, "msft") if "msftType" in row else None)
        if crm_id and str(row["id"]) not in dangling:
            expected[str(row["id"])] = crm_id
    actual = dict(
        db.query(
            "select id, other_system_id from main.biz_leads where source_system = 'Marketo' and is_duplicate "
            "union all select id, other_system_id from main.biz_contacts "
            "where source_system = 'Marketo' and is_duplicate",
        )
    )
    assert actual == expected
    assert set(db.query("select person_id from main.dq_marketo_dangling_crm_ids")) == {(d,) for d in dangling}


def test_crm_only_and_converted_leads(built):
    db, _, crm = built
    crm_persons = {
        row[0]
        for row in db.query(
            "select lower(id) from main.biz_leads where source_system = 'Crm' "
            "union all select lower(id) from main.biz_contacts where source_system = 'Crm'",
        )
    }
    assert {str(i).lower() for i in crm["crm_only"]["id"]} <= crm_persons
    converted = dict(
        db.query("select id, converted_contact_id from main.biz_leads where is_converted and crm_system = 'salesforce'")
    )
    # leads converted after the sync (the answer key) are converted, pointing at their new contact ...
    after_sync = dict(zip(crm["converted"]["lead_id"], crm["converted"]["contact_id"], strict=True))
    assert after_sync.items() <= converted.items()
    # ... and every converted lead (also those converted before the sync) names a contact that was loaded
    contacts = {row[0] for row in db.query("select id from main.biz_contacts where source_system = 'Crm'")}
    assert set(converted.values()) <= contacts


def test_every_crm_twin_names_its_marketo_person(built):
    db, _, _ = built
    (orphans,) = db.query(
        """
        select count(*) from main.biz_leads as m
        left join (
            select id, other_system_id from main.biz_leads
            union all select id, other_system_id from main.biz_contacts
        ) as c
            on c.id = m.other_system_id
        where m.source_system = 'Marketo' and m.is_duplicate and c.other_system_id is null
    """,
    )[0]
    assert orphans == 0
