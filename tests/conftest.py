import os
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
