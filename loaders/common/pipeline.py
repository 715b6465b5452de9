"""Where loaders write: one DuckDB file shared with dbt (env DUCKDB_PATH), or any dlt destination."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dlt

from warehouse.faults import kill_once


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def duckdb_path() -> Path:
    """DUCKDB_PATH if set (relative paths are taken from the current directory), else warehouse.duckdb
    at the repo root — the same file dbt's profiles.yml opens."""
    env = os.environ.get("DUCKDB_PATH")
    return Path(env).resolve() if env else repo_root() / "warehouse.duckdb"


def make_pipeline(
    pipeline_name: str,
    dataset_name: str,
    destination: str | None = None,
    pipelines_dir: str | None = None,
    progress: str | None = None,
) -> dlt.Pipeline:
    """A dlt pipeline into `dataset_name` (the raw schema dbt reads, e.g. raw_marketo).

    destination: None means DuckDB at duckdb_path(); any other dlt destination name uses dlt's own
    config for it (DESTINATION__SNOWFLAKE__CREDENTIALS, ...).
    """
    if destination in (None, "duckdb"):
        # DuckDB would take up to 80% of RAM for a large merge; cap it (it spills to disk beyond the cap).
        # Raw tables have no row order to keep: without it, a large file inserts in parallel (a third faster).
        settings = {"memory_limit": os.environ.get("DUCKDB_MEMORY_LIMIT", "2GB"), "preserve_insertion_order": False}
        _default_setting("destination.duckdb.credentials.global_config", json.dumps(settings))
        # dlt's Parquet files between extract and load stay on this machine: compressing them only costs time
        _default_setting("data_writer.compression", "none")
        dest = dlt.destinations.duckdb(credentials=str(duckdb_path()))
    else:
        dest = destination
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=dest,
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir or os.environ.get("LOADERS_PIPELINES_DIR"),
        progress=progress,
    )


def _default_setting(key: str, value: str) -> None:
    """Give dlt setting `key` our default unless the user set it (env var, .dlt/config.toml or secrets.toml)."""
    if dlt.config.get(key) is None:
        os.environ[key.upper().replace(".", "__")] = value


def kill_mid_load(pipeline: dlt.Pipeline, name: str) -> None:
    """Fault point `name` (off unless MARKETO_PEOPLE_FAULT_AT names it): kill the process inside dlt's load
    step, once a table of a package is committed to the warehouse and the package is not (dlt keeps each
    package's finished jobs under load/normalized/<load id>/completed_jobs until the whole package is done)."""
    normalized = Path(pipeline.working_dir) / "load" / "normalized"
    kill_once(lambda: any(normalized.glob("*/completed_jobs/*.*")), name)
