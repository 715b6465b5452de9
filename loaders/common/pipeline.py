"""Where loaders write: one DuckDB file shared with dbt (env DUCKDB_PATH), or any dlt destination."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dlt
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from warehouse.faults import kill_once

log = logging.getLogger(__name__)


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


def kill_mid_load(pipeline: dlt.Pipeline, name: str) -> None:
    """Fault point `name` (off unless MARKETO_PEOPLE_FAULT_AT names it): kill the process inside dlt's load
    step, once a table of a package is committed to the warehouse and the package is not (dlt keeps each
    package's finished jobs under load/normalized/<load id>/completed_jobs until the whole package is done)."""
    normalized = Path(pipeline.working_dir) / "load" / "normalized"
    kill_once(lambda: any(normalized.glob("*/completed_jobs/*.*")), name)


def finish_pending(pipeline: dlt.Pipeline, keys: dict[str, str | list[str]], say: Callable[[str], None]) -> bool:
    """Loads what a killed run left pending, then removes the rows it may have landed twice.

    dlt retries each load job a killed run left started, and the job may have committed before the kill:
    a merge (delete-insert) absorbs the repeat, but an insert-only merge or an append, whose staged rows are
    not de-duplicated, can land them twice. `keys` names those tables of the dataset and their primary keys;
    only rows whose key repeats are removed, the first kept. Returns whether anything was pending."""
    if not pipeline.has_pending_data:
        return False
    say("finishing the load a previous run left pending")
    pipeline.run()
    removed = remove_repeated_rows(pipeline, keys)
    if removed:
        say(f"removed {removed:,} rows that the interrupted load had landed twice")
    return True


def remove_repeated_rows(pipeline: dlt.Pipeline, keys: dict[str, str | list[str]]) -> int:
    """Deletes every row of `keys`' tables whose key an earlier row has (DuckDB and Postgres; other
    destinations de-duplicate nothing here and say so)."""
    row_id = {"duckdb": "rowid", "postgres": "ctid"}.get(pipeline.destination.destination_name)
    if row_id is None:
        log.warning("cannot check %s for rows landed twice by an interrupted load", pipeline.destination)
        return 0
    removed = 0
    with pipeline.sql_client() as client:
        for table, key in keys.items():
            if not client.has_dataset() or not _table_exists(client, table):
                continue
            name = client.make_qualified_table_name(table)
            columns = ", ".join(client.escape_column_name(c) for c in ([key] if isinstance(key, str) else key))
            repeated = (
                f"select {row_id} from (select {row_id}, row_number() over (partition by {columns} order by "
                f"{row_id}) as copy from {name}) as numbered where copy > 1"
            )
            count = client.execute_sql(f"select count(*) from ({repeated}) as r")[0][0]
            if count:
                client.execute_sql(f"delete from {name} where {row_id} in ({repeated})")
                removed += count
    return removed


def _table_exists(client: Any, table: str) -> bool:
    try:
        client.execute_sql(f"select 1 from {client.make_qualified_table_name(table)} limit 0")
        return True
    except DatabaseUndefinedRelation:
        return False
