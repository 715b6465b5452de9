import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.postgres import postgres_server
from tests.engines import ENGINES, PostgresWarehouse, SparkRuntime, SparkWarehouse, Warehouse

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """A fresh DuckDB file for one test, set as DUCKDB_PATH, with dlt's local state beside it."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    monkeypatch.setenv("LOADERS_PIPELINES_DIR", str(tmp_path / "pipelines"))
    return path


def engine_params(*engines: str) -> list:
    """pytest params for `engines` (default: all three), marked with their engine: `-m "not spark"` skips Spark."""
    return [pytest.param(engine, marks=getattr(pytest.mark, engine)) for engine in engines or ENGINES]


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway Postgres server for the test session; each scenario gets its own database."""
    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def spark_runtime(tmp_path_factory) -> SparkRuntime:
    """The warehouse folder of the test session's one Spark session (each scenario gets its own schema)."""
    return SparkRuntime(warehouse_dir=tmp_path_factory.mktemp("spark") / "warehouse")


@pytest.fixture(scope="session")
def new_warehouse(request):
    """new_warehouse(engine, workdir, name) -> a Warehouse whose raw tables go to workdir/warehouse.duckdb;
    `name` names the scenario's Postgres database or Spark schema. Postgres and Spark start on first use."""

    def make(engine: str, workdir: Path, name: str) -> Warehouse:
        workdir.mkdir(parents=True, exist_ok=True)
        raw = workdir / "warehouse.duckdb"
        if engine == "postgres":
            return PostgresWarehouse(engine, raw, server=request.getfixturevalue("pg_server"), database=name)
        if engine == "spark":
            return SparkWarehouse(engine, raw, runtime=request.getfixturevalue("spark_runtime"), schema=name)
        return Warehouse(engine, raw)

    return make


@dataclass(frozen=True)
class Demo:
    """One `make demo` run: its warehouse (with the dashboard snapshot beside it), dlt state and output."""

    db: Path
    pipelines: Path
    stdout: str


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Demo:
    """`python -m sandbox.demo` once per session, small (400 persons): the README's first command, and a
    demo-sized warehouse for the dashboard tests. Tests that change it work on a copy (demo_copy)."""
    from tests.support import REPO

    folder = tmp_path_factory.mktemp("demo")
    db, pipelines = folder / "demo.duckdb", folder / "pipelines"
    env = {**os.environ, "DUCKDB_PATH": str(db), "DEMO_PERSONS": "400", "LOADERS_PIPELINES_DIR": str(pipelines)}
    env.pop("DASHBOARD_SNAPSHOT_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox.demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return Demo(db, pipelines, proc.stdout)


@pytest.fixture
def demo_copy(demo, tmp_path) -> Demo:
    """A copy of the demo's warehouse, snapshot and dlt state that a test may build on."""
    import shutil

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo.db, db)
    shutil.copytree(str(demo.db) + ".dashboard", str(db) + ".dashboard")
    shutil.copytree(demo.pipelines, tmp_path / "pipelines")
    return Demo(db, tmp_path / "pipelines", demo.stdout)
