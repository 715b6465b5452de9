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
