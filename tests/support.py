"""Helpers shared by tests: run the real dbt CLI against a DuckDB file, query it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
DBT = str(Path(sys.executable).with_name("dbt"))


def run_dbt(
    args: list[str],
    duckdb_path: Path,
    vars: dict | None = None,
    check: bool = True,
    workdir: Path | None = None,
    project_dir: Path = REPO,
) -> subprocess.CompletedProcess:
    """`dbt <args>` in the repo against `duckdb_path`, with its own target/log dirs so tests can run
    side by side. Raises with dbt's output when it fails and check is true."""
    workdir = workdir or duckdb_path.parent
    cmd = [
        DBT,
        *args,
        "--profiles-dir",
        str(REPO),
        "--project-dir",
        str(project_dir),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
    ]
    if vars:
        cmd += ["--vars", json.dumps(vars)]
    env = {
        **os.environ,
        "DUCKDB_PATH": str(duckdb_path),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PARTIAL_PARSE": "false",
        # the profile's plugin (warehouse/) is found here when dbt runs a copy of the project
        "MARKETO_PEOPLE_HOME": str(REPO),
    }
    proc = subprocess.run(cmd, cwd=project_dir, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"
        )
    return proc


def query(duckdb_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(duckdb_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def copy_project(dest: Path) -> Path:
    """A copy of the dbt project (models, macros, seeds, config) that a test may edit, e.g. a seed."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copy(REPO / name, dest / name)
    for folder in ("models", "macros", "seeds", "tests/dbt"):
        if (REPO / folder).exists():
            shutil.copytree(REPO / folder, dest / folder)
    return dest


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A server TLS context with a fresh self-signed certificate for 127.0.0.1, and the certificate's file for
    clients to trust (REQUESTS_CA_BUNDLE): the vendors' own client libraries only speak https."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "emulator.pem", directory / "emulator.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


# columns that say when a run (re)wrote a row: they differ between two builds of the same data by design
RUN_COLUMNS = frozenset({"_processed_at"})


def table_differences(
    a: Path, b: Path, tables: list[str], ignore: frozenset[str] = RUN_COLUMNS
) -> dict[str, tuple[list, list]]:
    """Per table of schema main: (rows only in warehouse `a`, rows only in `b`), compared with EXCEPT ALL
    both ways on the columns of `a` except `ignore`."""
    out = {}
    with duckdb.connect() as con:
        con.execute(f"attach '{a}' as a_ (read_only)")
        con.execute(f"attach '{b}' as b_ (read_only)")
        for table in tables:
            names = con.execute(
                "select column_name from information_schema.columns where table_catalog = 'a_' "
                "and table_schema = 'main' and table_name = ? order by ordinal_position",
                [table],
            ).fetchall()
            cols = ", ".join(f'"{name}"' for (name,) in names if name not in ignore)
            only_a = con.execute(f"select {cols} from a_.main.{table} except all select {cols} from b_.main.{table}")
            only_b = con.execute(f"select {cols} from b_.main.{table} except all select {cols} from a_.main.{table}")
            out[table] = (only_a.fetchall(), only_b.fetchall())
    return out


def marts(path: Path) -> list[str]:
    """The mart tables of a warehouse: biz_*, rpt_*, dq_*."""
    rows = query(
        path,
        "select table_name from information_schema.tables where table_schema = 'main' "
        "and regexp_matches(table_name, '^(biz|rpt|dq)_') order by 1",
    )
    return [name for (name,) in rows]


def differences_from_full_build(warehouse: Path, workdir: Path) -> dict[str, tuple[list, list]]:
    """Every mart of `warehouse` against a full build from the same raw tables: the file is copied and every
    model rebuilt there (`dbt build --full-refresh`, without data tests). Only the marts that differ."""
    workdir.mkdir(parents=True, exist_ok=True)
    full = workdir / "full.duckdb"
    shutil.copy(warehouse, full)
    # one file name per workdir: later calls parse partially
    args = ["build", "--full-refresh", "--partial-parse", "--exclude-resource-type", "test"]
    run_dbt([*args, "--exclude-resource-type", "unit_test"], full)
    found = marts(warehouse)
    assert len(found) >= 16, found
    return {t: d for t, d in table_differences(warehouse, full, found).items() if d != ([], [])}


def land_web_day(db: Path, pipelines: Path, folder: Path, when, n: int = 40) -> tuple[int, int]:
    """A new day of web events, landed by the real loader (`python -m loaders web`): `n` page views and the
    forms of known visitors (copies of their landed events, moved to `when`, a UTC datetime) written as JSONL.gz
    into `folder`. Returns (page views, form submits) landed."""
    import pandas as pd

    from sandbox.web_events import FORM_SUBMIT_COLUMNS, PAGE_VIEW_COLUMNS, write_event_files

    stamp = when.strftime("%Y%m%d%H%M%S")
    with duckdb.connect(str(db), read_only=True) as con:
        frames = []
        for table, columns in (("page_views", PAGE_VIEW_COLUMNS), ("form_submits", FORM_SUBMIT_COLUMNS)):
            frame = con.execute(
                f"select {', '.join(columns)} from raw_web.{table} where cookie_id in "
                "(select cookie_id from raw_web.form_submits order by cookie_id limit ?) order by id limit ?",
                [n, n],
            ).df()
            frame["id"] = [f"{table}-{stamp}-{i}" for i in range(len(frame))]
            # seconds apart per cookie: one new session per visitor
            frame["event_date"] = pd.Timestamp(when) + pd.to_timedelta(range(len(frame)), unit="s")
            frames.append(frame)
    write_event_files(frames[0], frames[1], folder, fmt="jsonl", gzip=True)
    env = {
        **os.environ,
        "DUCKDB_PATH": str(db),
        "LOADERS_PIPELINES_DIR": str(pipelines),
        "SOURCES__WEB__BUCKET_URL": str(folder),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "loaders", "web"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    if proc.returncode != 0:
        raise AssertionError(f"loaders web failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return len(frames[0]), len(frames[1])
