"""Read the marts of any target into DuckDB, and compare two builds row for row (both ways).

DuckDB attaches its file; Spark's managed tables are Parquet folders (<SPARK_WAREHOUSE_DIR>/<schema>.db/<table>),
which DuckDB reads as they are; Postgres tables are copied out (COPY ... TO STDOUT as CSV, typed by the
catalog). Used by the tests (tests/engines.py), the demo's summary and the benchmark's mart check.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb

# when a run (re)wrote the row, and a hash of the engine's own text for a timestamp: differ by design
TECHNICAL_COLUMNS = {"_processed_at", "_person_fingerprint"}

DUCKDB_TYPES = {
    "character varying": "varchar", "text": "varchar", "timestamp without time zone": "timestamp",
    "timestamp with time zone": "timestamptz", "double precision": "double",
}  # fmt: skip


def attach_duckdb(con: duckdb.DuckDBPyConnection, path: Path, alias: str, schema: str = "main") -> list[str]:
    """The tables of `schema` in the DuckDB file `path` as views `<alias>.<table>`; their names."""
    con.execute(f"attach '{path}' as {alias}_file (read_only)")
    tables = [t for (t,) in con.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = ? "
        "and table_type = 'BASE TABLE' order by 1", [f"{alias}_file", schema]).fetchall()]  # fmt: skip
    con.execute(f"create schema if not exists {alias}")
    for table in tables:
        con.execute(f"create view {alias}.{table} as select * from {alias}_file.{schema}.{table}")
    return tables


def attach_spark(con: duckdb.DuckDBPyConnection, warehouse_dir: Path, schema: str, alias: str) -> list[str]:
    """The managed tables of Spark schema `schema` as views `<alias>.<table>` over their Parquet files."""
    con.execute(f"create schema if not exists {alias}")
    tables = []
    folder = Path(warehouse_dir) / f"{schema}.db"
    for table in sorted(folder.iterdir()) if folder.exists() else []:
        if any(table.glob("*.parquet")):
            con.execute(f"create view {alias}.{table.name} as select * from read_parquet('{table}/*.parquet')")
            tables.append(table.name)
    return tables


def attach_postgres(con: duckdb.DuckDBPyConnection, pg, schema: str, alias: str) -> list[str]:
    """Every table of Postgres schema `schema` (psycopg2 connection `pg`) copied into DuckDB as `<alias>.<table>`."""
    con.execute(f"create schema if not exists {alias}")
    columns: dict[str, list[tuple[str, str]]] = {}
    with pg.cursor() as cur, tempfile.TemporaryDirectory() as tmp:
        cur.execute(
            "select c.table_name, c.column_name, c.data_type, c.numeric_precision, c.numeric_scale "
            "from information_schema.columns as c inner join information_schema.tables as t "
            "on c.table_schema = t.table_schema and c.table_name = t.table_name "
            "where c.table_schema = %s and t.table_type = 'BASE TABLE' order by c.table_name, c.ordinal_position",
            [schema],
        )
        for table, column, kind, precision, scale in cur.fetchall():
            duck = f"decimal({precision or 38}, {scale or 0})" if kind == "numeric" else DUCKDB_TYPES.get(kind, kind)
            columns.setdefault(table, []).append((column, duck))
        for table, cols in columns.items():
            path = Path(tmp) / f"{table}.csv"
            with open(path, "w") as out:
                cur.copy_expert(f"copy {schema}.{table} to stdout with (format csv, header true)", out)
            spec = ", ".join(f"'{c}': '{t}'" for c, t in cols)
            con.execute(
                f"create table {alias}.{table} as select * from "
                f"read_csv('{path}', header = true, columns = {{{spec}}}, auto_detect = false)"
            )
    return list(columns)


def differences(
    con: duckdb.DuckDBPyConnection,
    a: str,
    b: str,
    tables: list[str],
    ignore: set[str] | frozenset[str] = frozenset(),
    sample: int = 5,
) -> dict[str, tuple]:
    """Per table of `tables`: (rows only in schema a, rows only in schema b), EXCEPT ALL each way over the
    columns both have, technical columns and `ignore` aside; `sample` rows of each. Tables that agree are
    left out; a table missing in b is reported as such."""
    out: dict[str, tuple] = {}
    for table in tables:
        cols = [
            c for (c,) in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
                "intersect select column_name from information_schema.columns where table_schema = ? "
                "and table_name = ?", [a, table, b, table]).fetchall()
            if c not in TECHNICAL_COLUMNS | set(ignore)
        ]  # fmt: skip
        if not cols:
            out[table] = (f"missing in {b}", [])
            continue
        select = ", ".join(sorted(cols))
        only_a = con.execute(f"select {select} from {a}.{table} except all select {select} from {b}.{table}").fetchall()
        only_b = con.execute(f"select {select} from {b}.{table} except all select {select} from {a}.{table}").fetchall()
        if only_a or only_b:
            out[table] = (only_a[:sample], only_b[:sample])
    return out
