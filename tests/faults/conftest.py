"""The fault matrix's shared world: sandbox sources (Marketo, Salesforce, web event files) for two days and
the clean runs every faulted run is compared with, built once per session.

- `ref1`: day 1 landed by each loader, uninterrupted (raw tables only): what loader cases end equal to;
- `base2`: day 1 landed and built, then day 2 landed (new and changed persons, new web events): where the
  dbt cases start, so their build is a daily incremental one that rebuilds person models;
- `ref2`: `base2` after an uninterrupted `dbt build`: what dbt cases end equal to.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from sandbox.crm import generate_crm
from sandbox.dynamics import DynamicsEmulator
from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_leads
from sandbox.salesforce import SalesforceEmulator
from sandbox.web_events import generate_web_events, happened_by, write_event_files
from tests.faults.support import (
    Matrix,
    assert_ok,
    dbt_build,
    loader_env,
    marketo_env,
    run_loader,
    salesforce_env,
    web_env,
)

NOW = datetime.now(UTC).replace(microsecond=0)
START = pd.Timestamp(NOW - timedelta(days=80)).floor("D")
END = START + pd.Timedelta(days=78)
MATRIX = Matrix()
DYNAMICS_CRM = generate_crm(
    generate_leads(150, seed=21, start=START, end=START + pd.Timedelta(days=60), with_dynamics=True), seed=21
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.faults)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ANN001 - pytest's hook
    if not MATRIX.rows:
        return
    table = MATRIX.table()
    terminalreporter.write_sep("=", "fault matrix")
    terminalreporter.write_line(table)
    out = os.environ.get("FAULTS_TABLE")
    if out:
        Path(out).write_text(table + "\n")
        terminalreporter.write_line(f"(written to {out})")


@pytest.fixture(scope="session")
def matrix() -> Matrix:
    return MATRIX


@dataclass
class World:
    root: Path
    leads1: pd.DataFrame
    leads2: pd.DataFrame
    crm: dict
    web1: Path  # day 1's event files
    web2: Path  # day 2's
    ref1: Path
    base2: Path
    ref2: Path

    def marketo(self, leads: pd.DataFrame | None = None, **kwargs) -> MarketoEmulator:  # noqa: ANN003
        emulator = MarketoEmulator(
            self.leads1 if leads is None else leads,
            workdir=self.root / "emu" / os.urandom(4).hex(),
            status_update_seconds=0,
            **kwargs,
        )
        # a killed run and its rerun share Marketo's 100 calls / 20 s; quotas are tested elsewhere
        emulator.enforce_rate_limits = False
        return emulator

    def dynamics(self) -> DynamicsEmulator:
        """A Dynamics-synced population of its own (the world's persons sync with Salesforce), in pages of 20."""
        crm = DYNAMICS_CRM
        return DynamicsEmulator(crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"], page_size=20)

    def salesforce(self, **kwargs) -> SalesforceEmulator:  # noqa: ANN003
        return SalesforceEmulator(self.crm["sf_lead"], self.crm["sf_contact"], self.crm["sf_account"], **kwargs)

    def bucket(self, dest: Path, *days: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        for day in days:
            for f in day.iterdir():
                shutil.copy(f, dest / f.name)
        return dest


def _messy(leads: pd.DataFrame) -> pd.DataFrame:
    """Emails as people type them, non-ASCII ones, and one absurdly long: each loads and is normalized."""
    leads = leads.copy()
    leads.loc[1, "email"] = "  Mixed.Case@Example.COM "
    leads.loc[2, "email"] = "josé.müller@bücher.example"
    leads.loc[3, "email"] = "x" * 100_000 + "@long.example"
    leads.loc[4, "company"] = 'Quote "and"\ncomma, newline'
    return leads


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("faults")
    leads1 = _messy(generate_leads(300, seed=17, start=START, end=END))
    # day 2: 40 new persons and 20 changed ones, all updated minutes before the day-2 run
    stamp = pd.Timestamp(NOW - timedelta(minutes=5))
    new = generate_leads(40, seed=18, start=END, end=END + pd.Timedelta(days=1))
    new["id"] += 1_000_000
    new["email"] = new["email"].str.replace("@", ".n@", n=1, regex=False)
    new["updatedAt"] = stamp
    changed = leads1.iloc[10:30].copy()
    changed["leadStatus"] = "Qualified"
    changed["updatedAt"] = stamp
    leads2 = pd.concat([changed, new], ignore_index=True)
    crm = generate_crm(leads1, seed=17)

    persons = pd.concat([leads1, new], ignore_index=True)
    page_views, form_submits = happened_by(
        *generate_web_events(persons, n_page_views=4000, seed=17, start=START, end=pd.Timestamp(NOW)),
        pd.Timestamp(NOW - timedelta(hours=1)),
    )
    page_views, form_submits = page_views.copy(), form_submits.copy()
    # one 1 MB URL: it loads and flows through sessionization like any other
    page_views.loc[0, "current_page_raw"] = "https://www.example-b2b.com/?q=" + "x" * (1 << 20)
    cut = page_views["event_date"].quantile(0.95)
    web1, web2 = root / "web1", root / "web2"
    write_event_files(page_views[page_views.event_date <= cut], form_submits[form_submits.event_date <= cut], web1)
    write_event_files(
        page_views[page_views.event_date > cut],
        form_submits[form_submits.event_date > cut],
        web2,
        fmt="csv",
        gzip=True,
    )
    w = World(root, leads1, leads2, crm, web1, web2, root / "ref1" / "warehouse.duckdb", root / "b2", root / "r2")

    bucket = w.bucket(root / "ref1" / "bucket", web1)
    with w.marketo() as mkto, w.salesforce() as sf:
        env = loader_env(w.ref1, {**marketo_env(mkto, START), **salesforce_env(sf), **web_env(bucket)})
        for source in ("marketo", "salesforce", "web"):
            assert_ok(run_loader(source, env), f"clean {source} load")
        built1 = shutil.copytree(w.ref1.parent, root / "built1")
        assert_ok(dbt_build(built1 / "warehouse.duckdb"), "clean day-1 dbt build")
        mkto.upsert_leads(leads2)
        w.bucket(built1 / "bucket", web2)
        env = loader_env(
            built1 / "warehouse.duckdb",
            {**marketo_env(mkto, START), **salesforce_env(sf), **web_env(built1 / "bucket")},
        )
        for source in ("marketo", "salesforce", "web"):
            assert_ok(run_loader(source, env), f"clean day-2 {source} load")
    w.base2 = shutil.copytree(built1, root / "base2") / "warehouse.duckdb"
    w.ref2 = shutil.copytree(built1, root / "ref2") / "warehouse.duckdb"
    assert_ok(dbt_build(w.ref2), "clean day-2 dbt build")
    return w
