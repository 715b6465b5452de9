"""The fault matrix's plumbing: the sandbox sources, loaders and dbt as subprocesses, the comparison of two
warehouses row for row, and the table `make faults` prints."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from sandbox.marketo import MarketoEmulator
from sandbox.salesforce import SalesforceEmulator
from tests.support import REPO, copy_project, run_dbt

# Columns that say when a run wrote a row (dlt load ids, dbt's _processed_at, export job times): they differ
# between any two runs by design and are left out of every comparison.
RUN_COLUMNS = {
    "_dlt_load_id",
    "_dlt_id",
    "_processed_at",
    "_read_at",
    "read_at",
    "rejected_at",
    "completed_at",
    "read_from",
}
# dbt's own bookkeeping: fingerprints carry load ids and times
SKIPPED_TABLES = {"_inputs_fingerprints"}
BUILD = ["build", "--exclude-resource-type", "unit_test"]
LOADER_TIMEOUT = 120


@dataclass
class Row:
    case: str
    outcome: str
    rows_in: int | None = None
    loaded: int | None = None
    quarantined: int | None = None
    seconds: float = 0.0


@dataclass
class Matrix:
    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)

    def table(self) -> str:
        def n(v: int | None) -> str:
            return "" if v is None else f"{v:,}"

        lines = [
            "| case | outcome | rows in | loaded | quarantined | seconds |",
            "|---|---|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r.case} | {r.outcome} | {n(r.rows_in)} | {n(r.loaded)} | {n(r.quarantined)} | {r.seconds:.1f} |"
            for r in self.rows
        ]
        return "\n".join(lines)


def outcome(problems: list[str], same: str = "raw = clean run") -> str:
    return same if not problems else "DIFFERS: " + "; ".join(problems[:3])


class Timer:
    def __init__(self) -> None:
        self.started = time.monotonic()

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


# ------------------------------------------------------------------------------------------- processes
def loader_env(db: Path, sources: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SOURCES__", "MARKETO_PEOPLE_FAULT"))}
    env.update(
        DUCKDB_PATH=str(db),
        LOADERS_PIPELINES_DIR=str(db.parent / "pipelines"),
        RUNTIME__DLTHUB_TELEMETRY="false",
        PYTHONPATH=str(REPO),
    )
    env.pop("WAREHOUSE_LOCK_TOKEN", None)
    env.update(sources)
    env.update(extra)
    return env


def run_loader(source: str, env: dict[str, str], *args: str, fault: str | None = None) -> subprocess.CompletedProcess:
    """`python -m loaders <source>` as a user runs it; `fault` arms a fault point (warehouse/faults.py)."""
    env = dict(env)
    if fault:
        env["MARKETO_PEOPLE_FAULT_AT"] = fault
    return subprocess.run(
        [sys.executable, "-m", "loaders", source, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=LOADER_TIMEOUT,
    )


def start_loader(source: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "loaders", source, *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def dbt_build(
    db: Path, project: Path = REPO, fault: str | None = None, workdir: Path | None = None, **env: str
) -> subprocess.CompletedProcess:
    saved = {k: os.environ.get(k) for k in ("MARKETO_PEOPLE_FAULT_AT", *env)}
    try:
        if fault:
            os.environ["MARKETO_PEOPLE_FAULT_AT"] = fault
        os.environ.update(env)
        return run_dbt(BUILD, db, check=False, workdir=workdir or db.parent, project_dir=project)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def assert_ok(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == 0, f"{what} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"


def assert_killed(proc: subprocess.CompletedProcess, what: str) -> None:
    assert proc.returncode == -9, (
        f"{what} was to be killed at its fault point but exited {proc.returncode}:\n"
        f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )


# ------------------------------------------------------------------------------------------- warehouses
def copy_warehouse(src: Path, dest_dir: Path, with_state: bool = False) -> Path:
    """A copy of a warehouse file (and of dlt's local pipeline state beside it) into `dest_dir`."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    shutil.copy(src, dest)
    if with_state and (src.parent / "pipelines").exists():
        shutil.copytree(src.parent / "pipelines", dest_dir / "pipelines")
    return dest


def tables(con: duckdb.DuckDBPyConnection, db: str, schemas: tuple[str, ...]) -> dict[str, list[str]]:
    rows = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_catalog = ? and table_schema in (select unnest(?)) order by ordinal_position",
        [db, list(schemas)],
    ).fetchall()
    out: dict[str, list[str]] = {}
    for schema, table, column in rows:
        if table.startswith("_dlt_") or table in SKIPPED_TABLES:
            continue
        out.setdefault(f"{schema}.{table}", []).append(column)
    return out


def differences(actual: Path, expected: Path, schemas: tuple[str, ...]) -> list[str]:
    """Every table of `schemas` in either warehouse, compared row for row both ways (EXCEPT ALL), run columns
    aside. An empty list means the two hold the same rows."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{actual}' as a (read_only)")
        con.execute(f"attach '{expected}' as e (read_only)")
        mine, theirs = tables(con, "a", schemas), tables(con, "e", schemas)
        problems = [f"{t}: missing" for t in sorted(set(theirs) - set(mine))]
        problems += [f"{t}: not in the clean run" for t in sorted(set(mine) - set(theirs))]
        for name in sorted(set(mine) & set(theirs)):
            cols_a = [c for c in mine[name] if c not in RUN_COLUMNS]
            cols_e = [c for c in theirs[name] if c not in RUN_COLUMNS]
            if sorted(cols_a) != sorted(cols_e):
                problems.append(f"{name}: columns differ: {sorted(set(cols_a) ^ set(cols_e))}")
                continue
            cols = ", ".join(f'"{c}"' for c in cols_e)
            extra, lost = (
                con.execute(
                    f"select count(*) from (select {cols} from {x}.{name} except all select {cols} from {y}.{name})"
                ).fetchone()[0]
                for x, y in (("a", "e"), ("e", "a"))
            )
            if extra or lost:
                problems.append(f"{name}: {extra} rows not in the clean run, {lost} rows of it missing")
        return problems
    finally:
        con.close()


def count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return int(con.execute(sql).fetchone()[0])


def present_rows(db: Path, schema: str, names: tuple[str, ...]) -> int:
    """Rows of the tables `names` of `schema` that exist (a table never written counts 0)."""
    with duckdb.connect(str(db), read_only=True) as con:
        found = {
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [schema]
            ).fetchall()
        }
        return sum(con.execute(f'select count(*) from {schema}."{t}"').fetchone()[0] for t in names if t in found)


def raw_rows(db: Path, schema: str) -> int:
    """Rows of the data tables of one raw schema (dlt's own tables aside)."""
    with duckdb.connect(str(db), read_only=True) as con:
        names = [
            t
            for (t,) in con.execute(
                "select table_name from information_schema.tables where table_schema = ?", [schema]
            ).fetchall()
            if not t.startswith("_dlt_")
        ]
        return sum(con.execute(f'select count(*) from {schema}."{t}"').fetchone()[0] for t in names)


# ------------------------------------------------------------------------------------------- sources
def marketo_env(emu: MarketoEmulator, start: pd.Timestamp) -> dict[str, str]:
    settings = {
        "BASE_URL": emu.base_url,
        "CLIENT_ID": emu.client_id,
        "CLIENT_SECRET": emu.client_secret,
        "START_DATE": start.isoformat(),
        "POLL_INTERVAL_SECONDS": "0.01",
        "BACKOFF_BASE_SECONDS": "0.01",
        "COMPANY_REFRESH_DAYS": "-1",
        "ROLLING_WINDOW_DAYS": "120",
        "JOB_TIMEOUT_SECONDS": "60",
    }
    return {f"SOURCES__MARKETO__{k}": v for k, v in settings.items()}


def salesforce_env(emu: SalesforceEmulator) -> dict[str, str]:
    settings = {"BASE_URL": emu.base_url, "CLIENT_ID": emu.client_id, "CLIENT_SECRET": emu.client_secret}
    return {f"SOURCES__SALESFORCE__{k}": v for k, v in settings.items()}


def dynamics_env(emu) -> dict[str, str]:  # noqa: ANN001 - sandbox.dynamics.DynamicsEmulator
    settings = {
        "BASE_URL": emu.base_url,
        "TOKEN_URL": emu.token_url,
        "CLIENT_ID": emu.client_id,
        "CLIENT_SECRET": emu.client_secret,
        "BACKOFF_BASE": "0.01",
        "PAGE_SIZE": "20",  # several pages from a small sandbox
    }
    return {f"SOURCES__DYNAMICS__{k}": v for k, v in settings.items()}


def web_env(bucket: Path) -> dict[str, str]:
    return {"SOURCES__WEB__BUCKET_URL": str(bucket)}


@contextmanager
def emulators(*emus) -> Iterator[None]:  # noqa: ANN002 - any sandbox emulator
    with ExitStack() as stack:
        for emu in emus:
            stack.enter_context(emu)
        yield


def fault_project(dest: Path) -> Path:
    """A copy of the dbt project with test-only fault points (`select marketo_people_fault('<name>')`, a
    no-op unless MARKETO_PEOPLE_FAULT_AT names it): inside incremental and person models' transactions,
    around the fingerprint post-hook, and in a data test. The models themselves are untouched."""
    import yaml

    project = copy_project(dest)
    config = yaml.safe_load((project / "dbt_project.yml").read_text())

    def hook(name: str) -> str:
        return f"select marketo_people_fault('{name}')"

    models = config["models"]["marketo_people"]
    models["intermediate"]["int_sessions_sessionized"] = {"+post-hook": [hook("int_sessions_sessionized.post")]}
    models["intermediate"]["int_marketo_persons_resolved"] = {
        **models["intermediate"]["int_marketo_persons_resolved"],
        "+post-hook": [hook("int_marketo_persons_resolved.post"), "{{ record_inputs_fingerprint() }}"],
    }
    models["marts"]["biz_sessions"] = {"+pre-hook": [hook("biz_sessions.pre")]}
    models["marts"]["biz_leads"] = {
        **models["marts"]["biz_leads"],
        "+post-hook": [
            hook("biz_leads.before_fingerprint"),
            "{{ record_inputs_fingerprint() }}",
            hook("biz_leads.after_fingerprint"),
        ],
    }
    (project / "dbt_project.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    tests = project / "tests" / "dbt"
    tests.mkdir(parents=True, exist_ok=True)
    (tests / "fault_during_data_tests.sql").write_text(
        "with touched as (select count(*) as n from {{ ref('biz_touchpoints') }}),\n"
        "reached as (select marketo_people_fault('data_tests') as f from touched)\n"
        "select * from reached where f is null\n"
    )
    return project


def start_dbt(db: Path, log: Path, **env: str) -> subprocess.Popen:
    """`dbt build` in the background (output to `log`), as a second terminal or a cron job would start it."""
    from tests.support import DBT

    full_env = {
        **os.environ,
        "DUCKDB_PATH": str(db),
        "DBT_PARTIAL_PARSE": "false",
        "MARKETO_PEOPLE_HOME": str(REPO),
        **env,
    }
    full_env.pop("WAREHOUSE_LOCK_TOKEN", None)
    cmd = [DBT, *BUILD, "--profiles-dir", str(REPO), "--project-dir", str(REPO)]
    cmd += ["--target-path", str(log.parent / "target"), "--log-path", str(log.parent / "logs")]
    return subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)


def wait_for_holder(db: Path, pid: int, timeout: float = 60.0) -> dict:
    """Waits until the process `pid` holds the warehouse lock; returns what it wrote about itself."""
    from warehouse.lock import WarehouseLock

    lock = WarehouseLock(db, wait_seconds=0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        holder = lock.holder()
        if holder.get("pid") == pid:
            return holder
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} never took the warehouse lock of {db}")


def finish(proc: subprocess.Popen, timeout: float = 300.0) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
