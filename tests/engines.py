"""The same scenarios on every dbt target: DuckDB, Postgres and Spark (README "Engines").

A scenario writes its raw tables into a DuckDB file, as the loaders' dlt destinations would land them (dlt's
snake_case columns, `_dlt_load_id`, `raw_web._dlt_loads`). `Warehouse.land()` puts them where the target reads
them: the same file for DuckDB; the same `raw_*` tables in a Postgres database; for Spark, Parquet files in
dlt's filesystem layout under a lake folder (`<lake>/<dataset>/<table>/<load_id>.<n>.parquet`, `_dlt_loads`
as JSON lines, a dlt schema naming each table's merge key), one file per table and load, as the filesystem
destination appends them. Then the real `dbt build` runs on that target, and `query()` reads the marts with
DuckDB SQL: on DuckDB directly, on Postgres through psycopg2 (`main.` is the target schema), on Spark from
the Parquet files of its managed tables, which any Parquet reader can open.

Postgres runs as a throwaway server per test session (`postgres_server`); Spark runs inside the test process
(dbt's in-process runner), so its JVM and catalog start once per session.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from sandbox import marts
from sandbox.postgres import PostgresServer
from tests.support import REPO, run_dbt

ENGINES = ("duckdb", "postgres", "spark")
SCHEMA = "analytics"  # the postgres and spark targets' schema (DBT_SCHEMA), `main` on DuckDB

# How the loaders' dlt resources write each raw table (primary key, dlt's merge strategy, dedup_sort): the
# filesystem destination appends every version, and the spark target's views keep one per key by these.
LAKE_MERGE_KEYS = {
    "raw_marketo.leads": (["id"], "delete-insert", "updated_at"),
    "raw_marketo.lead_company_fields": (["id"], "delete-insert", "updated_at"),
    "raw_marketo.deleted_leads": (["id"], "delete-insert", None),
    "raw_salesforce.lead": (["id"], "delete-insert", None),
    "raw_salesforce.contact": (["id"], "delete-insert", None),
    "raw_salesforce.account": (["id"], "delete-insert", None),
    "raw_dynamics.leads": (["leadid"], "delete-insert", None),
    "raw_dynamics.contacts": (["contactid"], "delete-insert", None),
    "raw_dynamics.accounts": (["accountid"], "delete-insert", None),
    "raw_web.page_views": (["id"], "insert-only", None),
    "raw_web.form_submits": (["id"], "insert-only", None),
}


def raw_tables(raw: Path) -> list[tuple[str, str]]:
    """(schema, table) of every raw_* table in the scenario's DuckDB file (none: the loaders wrote elsewhere)."""
    if not raw.exists():
        return []
    with duckdb.connect(str(raw), read_only=True) as con:
        return con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema like 'raw\\_%' escape '\\' and table_type = 'BASE TABLE' order by 1, 2"
        ).fetchall()


@dataclass
class Warehouse:
    """One scenario's warehouse on one engine. `raw` is the DuckDB file its raw tables are written to."""

    engine: str
    raw: Path

    @property
    def workdir(self) -> Path:
        return self.raw.parent

    def land(self) -> None:
        """Make the raw tables written so far visible to the target (DuckDB reads the file itself)."""

    def dbt(self, args: list[str], vars: dict | None = None, check: bool = True, project_dir: Path = REPO):
        self.land()
        return run_dbt(args, self.raw, vars=vars, check=check, workdir=self.workdir, project_dir=project_dir)

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.raw), read_only=True) as con:
            return con.execute(sql).fetchall()

    def copy(self, workdir: Path, name: str) -> Warehouse:
        """This warehouse, raw tables and build, to rerun with other settings."""
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.raw, workdir / self.raw.name)
        return Warehouse(self.engine, workdir / self.raw.name)

    def attach_marts(self, con: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
        """The built tables as `<alias>.<table>` in DuckDB connection `con`; their names."""
        return marts.attach_duckdb(con, self.raw, alias)


# ---------------------------------------------------------------------------------------------- postgres


PG_TYPES = {"VARCHAR": "text", "TIMESTAMP WITH TIME ZONE": "timestamptz", "DOUBLE": "double precision"}


@dataclass
class PostgresWarehouse(Warehouse):
    server: PostgresServer = None  # type: ignore[assignment]
    database: str = ""
    created: bool = False
    landed: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.created:
            self.server.create_database(self.database)

    def land(self) -> None:
        """Mirror the raw tables into the scenario's database (what dlt's postgres destination lands): a table
        whose rows changed since the last call is refilled, in place when its columns are the same (the
        staging views on it stay)."""
        if not self.raw.exists():  # the loaders wrote to the target themselves
            return
        import psycopg2.extras

        con = self.server.connect(self.database)
        with con, con.cursor() as cur, duckdb.connect(str(self.raw), read_only=True) as raw:
            for schema, table in raw_tables(self.raw):
                name = f"{schema}.{table}"
                content = str(raw.execute(f"select count(*), sum(hash(t)) from {name} as t").fetchone())
                if self.landed.get(name) == content:
                    continue
                columns = raw.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [schema, table],
                ).fetchall()
                ddl = ", ".join(f'"{column}" {PG_TYPES.get(kind, kind)}' for column, kind in columns)
                cur.execute(
                    "select string_agg(column_name, ',' order by ordinal_position) from information_schema.columns "
                    "where table_schema = %s and table_name = %s",
                    [schema, table],
                )
                if cur.fetchone()[0] == ",".join(column for column, _ in columns):
                    cur.execute(f"delete from {name}")
                else:
                    cur.execute(f"create schema if not exists {schema}")
                    cur.execute(f"drop table if exists {name} cascade")
                    cur.execute(f"create table {name} ({ddl})")
                rows = raw.execute(f"select * from {name}").fetchall()
                if rows:
                    psycopg2.extras.execute_values(cur, f"insert into {name} values %s", rows)
                self.landed[name] = content
        con.close()

    def dbt(self, args: list[str], vars: dict | None = None, check: bool = True, project_dir: Path = REPO):
        self.land()
        env = {**self.server.env(self.database), "DBT_TARGET": "postgres", "DBT_SCHEMA": SCHEMA}
        with _env(env):
            return run_dbt(args, self.raw, vars=vars, check=check, workdir=self.workdir, project_dir=project_dir)

    def copy(self, workdir: Path, name: str) -> PostgresWarehouse:
        workdir.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.raw, workdir / self.raw.name)
        self.server.create_database(name, template=self.database)
        return PostgresWarehouse(
            self.engine, workdir / self.raw.name, server=self.server, database=name, created=True,
            landed=dict(self.landed),
        )  # fmt: skip

    def query(self, sql: str) -> list[tuple]:
        con = self.server.connect(self.database)
        try:
            with con.cursor() as cur:
                cur.execute(re.sub(r"\bmain\.", f"{SCHEMA}.", sql))
                return [tuple(row) for row in cur.fetchall()]
        finally:
            con.close()

    def attach_marts(self, con: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
        pg = self.server.connect(self.database)
        try:
            return marts.attach_postgres(con, pg, SCHEMA, alias)
        finally:
            pg.close()


# ------------------------------------------------------------------------------------------------- spark


@dataclass
class SparkRuntime:
    """The warehouse folder (managed tables and the Derby catalog) of the test session's one Spark session."""

    warehouse_dir: Path


@dataclass
class SparkWarehouse(Warehouse):
    runtime: SparkRuntime = None  # type: ignore[assignment]
    schema: str = ""
    landed: dict[str, set[str]] = field(default_factory=dict)

    @property
    def lake(self) -> Path:
        return self.workdir / "lake"

    def land(self) -> None:
        """Write what the filesystem destination would have written since the last call: one Parquet file
        per table and load (rows of a table without `_dlt_load_id` as one load, rewritten when they change),
        the load log and a dlt schema with each table's merge key."""
        # an empty lake is the empty warehouse of this target (the listing needs the folder, README "Engines")
        self.lake.mkdir(parents=True, exist_ok=True)
        if not self.raw.exists():  # the loaders wrote to the target themselves
            return
        with duckdb.connect(str(self.raw), read_only=True) as raw:
            raw.execute("set TimeZone = 'UTC'")
            for schema, table in raw_tables(self.raw):
                folder = self.lake / schema / table
                name = f"{schema}.{table}"
                if table == "_dlt_loads":
                    folder.mkdir(parents=True, exist_ok=True)
                    for load_id, schema_name, status, inserted_at in raw.execute(f"select * from {name}").fetchall():
                        line = {"load_id": load_id, "schema_name": schema_name, "status": status,
                                "inserted_at": inserted_at.isoformat()}  # fmt: skip
                        (folder / f"{schema_name}__{load_id}.jsonl").write_text(json.dumps(line) + "\n")
                    continue
                columns = [c for (c,) in raw.execute(f"select column_name from (describe {name})").fetchall()]
                if "_dlt_load_id" in columns:
                    loads = [lid for (lid,) in raw.execute(f"select distinct _dlt_load_id from {name}").fetchall()]
                    for load_id in sorted(set(loads) - self.landed.setdefault(name, set()), key=str):
                        where = "where _dlt_load_id is null" if load_id is None else f"where _dlt_load_id = '{load_id}'"
                        self._write(raw, name, columns, folder, load_id or "0", where)
                        self.landed[name].add(load_id)
                else:
                    content = str(raw.execute(f"select count(*), sum(hash(t)) from {name} as t").fetchone())
                    if self.landed.get(name) != {content}:
                        shutil.rmtree(folder, ignore_errors=True)
                        self._write(raw, name, columns, folder, f"{1600000000 + len(self.landed)}.0", "")
                        self.landed[name] = {content}
            self._write_dlt_schemas(raw)

    def _write(self, raw, name: str, columns: list[str], folder: Path, load_id: str, where: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        select = "* exclude (_dlt_id)" if "_dlt_id" in columns else "*"
        if "_dlt_load_id" not in columns:
            select += f", '{load_id}' as _dlt_load_id"
        target = folder / f"{load_id}.{len(list(folder.iterdir())):04d}.parquet"
        # _dlt_id as dlt writes it, one per row: the views' last tie-break
        raw.execute(f"copy (select {select}, cast(uuid() as varchar) as _dlt_id from {name} {where}) to '{target}'")

    def _write_dlt_schemas(self, raw) -> None:
        for dataset in {name.split(".")[0] for name in self.landed}:
            tables = {}
            for name, (keys, strategy, dedup_sort) in LAKE_MERGE_KEYS.items():
                if name in self.landed and name.startswith(dataset + "."):
                    landed = {c for (c,) in raw.execute(f"select column_name from (describe {name})").fetchall()}
                    columns = {key: {"name": key, "data_type": "text", "primary_key": True} for key in keys}
                    if dedup_sort in landed:
                        columns[dedup_sort] = {"name": dedup_sort, "data_type": "timestamp", "dedup_sort": "desc"}
                    tables[name.split(".")[1]] = {
                        "name": name.split(".")[1], "write_disposition": "merge",
                        "x-merge-strategy": strategy, "columns": columns,
                    }  # fmt: skip
            folder = self.lake / dataset / "_dlt_version"
            folder.mkdir(parents=True, exist_ok=True)
            line = {"schema_name": dataset, "version": 1, "schema": json.dumps({"tables": tables})}
            (folder / f"{dataset}__1.jsonl").write_text(json.dumps(line) + "\n")

    def dbt(self, args: list[str], vars: dict | None = None, check: bool = True, project_dir: Path = REPO):
        self.land()
        env = {
            "DBT_TARGET": "spark",
            "DBT_SCHEMA": self.schema,
            "LAKE_PATH": str(self.lake),
            "SPARK_WAREHOUSE_DIR": str(self.runtime.warehouse_dir),
            # a handful of rows per table: one task per shuffle, not four
            "SPARK_SHUFFLE_PARTITIONS": "1",
        }
        with _env(env):
            return run_dbt_in_process(args, self.workdir, vars=vars, check=check, project_dir=project_dir)

    def query(self, sql: str) -> list[tuple]:
        """`sql` over the Parquet folders of the schema's managed tables (`main.<table>`)."""
        with duckdb.connect() as con:
            self.attach_marts(con, "main")
            return con.execute(sql).fetchall()

    def copy(self, workdir: Path, name: str) -> SparkWarehouse:
        """The same schema: a copy would cost a rebuild. A test that reruns with other settings therefore
        leaves its result for the next one, which sets its own settings."""
        return self

    def attach_marts(self, con: duckdb.DuckDBPyConnection, alias: str) -> list[str]:
        return marts.attach_spark(con, self.runtime.warehouse_dir, self.schema, alias)


@contextlib.contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@dataclass
class InProcessResult:
    returncode: int
    stdout: str


def run_dbt_in_process(
    args: list[str], workdir: Path, vars: dict | None = None, check: bool = True, project_dir: Path = REPO
):
    """`dbt <args>` inside this process (dbt's programmatic runner), so the Spark session started by the
    first call serves every later one. Same flags as tests.support.run_dbt."""
    from dbt.cli.main import dbtRunner

    cmd = [
        *args,
        "--profiles-dir", str(REPO),
        "--project-dir", str(project_dir),
        "--target-path", str(workdir / "target"),
        "--log-path", str(workdir / "logs"),
    ]  # fmt: skip
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    started = time.monotonic()
    with _env({"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_PARTIAL_PARSE": "false"}):
        result = dbtRunner().invoke(cmd)
    log = (workdir / "logs" / "dbt.log").read_text()[-8000:] if (workdir / "logs" / "dbt.log").exists() else ""
    if check and not result.success:
        raise AssertionError(
            f"{' '.join(args)} failed on spark ({time.monotonic() - started:.0f}s):\n{log}\n{result.exception}"
        )
    return InProcessResult(0 if result.success else 1, log)


# ------------------------------------------------------------------------------------------ comparison


def mart_differences(
    a: Warehouse,
    b: Warehouse,
    tables: list[str] | None = None,
    prefixes: tuple[str, ...] = ("biz_", "rpt_", "dq_"),
    ignore: set[str] | frozenset[str] = frozenset(),
) -> dict:
    """Per table (`tables`, else those of `a` named with one of `prefixes`): (rows only in a, rows only in
    b), EXCEPT ALL each way (sandbox/marts.py)."""
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        tables_a = a.attach_marts(con, "a")
        b.attach_marts(con, "b")
        return marts.differences(con, "a", "b", tables or [t for t in tables_a if t.startswith(prefixes)], ignore)


# Spark pays a fixed cost per statement (its test part is kept to a few builds): its scenario builds run the
# seeds and models only; one scenario (tests/test_reporting_marts.py, every source) runs every data test on
# Spark too. The unit tests run on DuckDB and Postgres (on Spark each costs a job per fixture).
SPARK_MODELS_ONLY = ["build", "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]


class Scenario:
    """A scenario's raw tables, built once per engine on first use and kept for the test module.

    Right after a non-DuckDB build, its marts are compared with the DuckDB build of the same raw tables
    (`differences[engine]`, see mart_differences), before any test reruns that warehouse with other settings.
    """

    def __init__(
        self, name: str, workdirs, new_warehouse, write, args: list[str], spark_args=None, compared=None
    ) -> None:
        self.name, self.workdirs, self.new_warehouse, self.write = name, workdirs, new_warehouse, write
        self.args, self.spark_args = args, spark_args or SPARK_MODELS_ONLY
        self.compared = compared  # the marts compared with DuckDB's (default: every biz_, rpt_, dq_ table)
        self.built: dict[str, Warehouse] = {}
        self.differences: dict[str, dict] = {}

    def __call__(self, engine: str) -> Warehouse:
        if engine not in self.built:
            warehouse = self.new_warehouse(engine, self.workdirs.mktemp(f"{self.name}_{engine}"), self.name)
            self.write(warehouse.raw)
            warehouse.dbt(self.spark_args if engine == "spark" else self.args)
            self.built[engine] = warehouse
            if engine != "duckdb":
                self.differences[engine] = mart_differences(self("duckdb"), warehouse, tables=self.compared)
        return self.built[engine]
