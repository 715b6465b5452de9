import os

import pytest

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture
def warehouse(tmp_path, monkeypatch):
    """A fresh DuckDB file for one test, set as DUCKDB_PATH, with dlt's local state beside it."""
    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("DUCKDB_PATH", str(path))
    monkeypatch.setenv("LOADERS_PIPELINES_DIR", str(tmp_path / "pipelines"))
    return path
