"""Where loaders write: one DuckDB file shared with dbt (env DUCKDB_PATH), or any dlt destination."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dlt


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def duckdb_path() -> Path:
    """DUCKDB_PATH if set (relative paths are taken from the current directory), else warehouse.duckdb
    at the repo root — the same file dbt's profiles.yml opens."""
    env = os.environ.get("DUCKDB_PATH")
    return Path(env).resolve() if env else repo_root() / "warehouse.duckdb"


def lake_path() -> str:
    """LAKE_PATH if set (a folder, or s3://, gs://, az://), else lake/ at the repo root: where the filesystem
    destination writes Parquet for dbt's spark target (profiles.yml reads the same variable)."""
    return os.environ.get("LAKE_PATH") or str(repo_root() / "lake")


def run_options(pipeline: dlt.Pipeline) -> dict[str, Any]:
    """What pipeline.run / pipeline.extract need for this destination. Into the filesystem destination:
    Parquet, which the spark target reads (dlt's own choice there is JSON lines for rows that are not Arrow
    tables, even when the config asks for Parquet)."""
    if pipeline.destination is not None and pipeline.destination.destination_name == "filesystem":
        return {"loader_file_format": "parquet"}
    return {}


def make_pipeline(
    pipeline_name: str,
    dataset_name: str,
    destination: str | None = None,
    pipelines_dir: str | None = None,
    progress: str | None = None,
) -> dlt.Pipeline:
    """A dlt pipeline into `dataset_name` (the raw schema dbt reads, e.g. raw_marketo).

    destination: None means DuckDB at duckdb_path(); "filesystem" writes Parquet files under lake_path()
    in dlt's default layout (<dataset>/<table>/<load_id>.<file_id>.parquet) unless dlt's own
    destination.filesystem.bucket_url is set; any other dlt destination name uses dlt's own config for it
    (PG* / DESTINATION__POSTGRES__CREDENTIALS, DESTINATION__SNOWFLAKE__CREDENTIALS, ...). Runs pass
    run_options(pipeline).
    """
    # dlt leaves its load id out of Arrow tables unless asked. dbt needs it on every raw table: incremental
    # models find new rows by it, and source freshness (macros/dlt_loaded_at.sql) tells by it which loads
    # wrote a table, so the daily job builds only what new rows feed.
    _default_setting("normalize.parquet_normalizer.add_dlt_load_id", "true")
    if destination in (None, "duckdb"):
        # DuckDB would take up to 80% of RAM for a large merge; cap it (it spills to disk beyond the cap).
        # Raw tables have no row order to keep: without it, a large file inserts in parallel (a third faster).
        settings = {"memory_limit": os.environ.get("DUCKDB_MEMORY_LIMIT", "2GB"), "preserve_insertion_order": False}
        _default_setting("destination.duckdb.credentials.global_config", json.dumps(settings))
        # dlt's Parquet files between extract and load stay on this machine: compressing them only costs time
        _default_setting("data_writer.compression", "none")
        dest = dlt.destinations.duckdb(credentials=str(duckdb_path()))
    elif destination == "postgres":
        dest = _postgres_from_libpq() or destination
    elif destination == "filesystem":
        _default_setting("destination.filesystem.bucket_url", lake_path())
        dest = destination
    else:
        dest = destination
    return dlt.pipeline(
        pipeline_name=pipeline_name,
        destination=dest,
        dataset_name=dataset_name,
        pipelines_dir=pipelines_dir or os.environ.get("LOADERS_PIPELINES_DIR"),
        progress=progress,
    )


def _postgres_from_libpq() -> Any:
    """dlt's postgres destination on the server libpq's PG* variables name (as psql and dbt's postgres target
    read them), unless dlt has credentials of its own (.dlt/secrets.toml, DESTINATION__POSTGRES__CREDENTIALS)."""
    own = ("destination.postgres.credentials", "destination.postgres.credentials.database")
    if not os.environ.get("PGDATABASE") or any(dlt.secrets.get(key) or dlt.config.get(key) for key in own):
        return None
    user, password = (
        quote(os.environ.get("PGUSER", "postgres"), safe=""),
        quote(os.environ.get("PGPASSWORD", ""), safe=""),
    )
    host, port = os.environ.get("PGHOST", "localhost"), os.environ.get("PGPORT", "5432")
    return dlt.destinations.postgres(
        credentials=f"postgresql://{user}:{password}@{host}:{port}/{quote(os.environ['PGDATABASE'], safe='')}"
    )


def _default_setting(key: str, value: str) -> None:
    """Give dlt setting `key` our default unless the user set it (env var, .dlt/config.toml or secrets.toml)."""
    if dlt.config.get(key) is None:
        os.environ[key.upper().replace(".", "__")] = value
