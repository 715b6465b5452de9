"""A throwaway Postgres server on 127.0.0.1, for the tests, the demo (`make demo TARGET=postgres` without a
server of your own) and the benchmark.

Debian's `postgresql` binaries (PG_BIN, default the newest /usr/lib/postgresql/<version>/bin), its own data
directory, a free port, password authentication, the C collation (strings sort by bytes, as in DuckDB and
Spark: the marts' tie-breaks on ids agree). initdb refuses to run as root: as root, the server runs as the
distribution's `postgres` user (else `nobody`).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


def _pg_bin() -> Path:
    """PG_BIN, else the newest of Debian's /usr/lib/postgresql/<version>/bin."""
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()


@dataclass
class PostgresServer:
    port: int
    password: str
    root: Path
    user: str = "marketo"

    def env(self, database: str) -> dict[str, str]:
        """libpq's variables for `database`: what psql, dbt's postgres target and the loaders read."""
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGPASSWORD": self.password,
            "PGDATABASE": database,
        }

    def connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname=database
        )

    def create_database(self, name: str, template: str | None = None) -> None:
        """`name`, empty or a copy of `template` (dropped first if it exists)."""
        con = self.connect()
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute(f'drop database if exists "{name}"')
            cur.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
        con.close()


@contextlib.contextmanager
def postgres_server(root: Path | None = None) -> Iterator[PostgresServer]:
    """A server for the duration of the block; stopped, and its files deleted, after."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(
            f"Postgres binaries not found in {PG_BIN}: install Debian's postgresql package "
            "(apt-get install postgresql), or set PG_BIN to the folder holding initdb and pg_ctl"
        )
    root = Path(tempfile.mkdtemp(prefix="marketo-pg-", dir=root))
    owner = None
    if os.geteuid() == 0:
        owner = "postgres" if _user_exists("postgres") else "nobody"
    run_as = ["runuser", "-u", owner, "--"] if owner else []
    password = os.urandom(12).hex()
    (root / "pw").write_text(password)
    sockets = root / "sockets"
    sockets.mkdir()
    if owner:
        for path in (root, root / "pw", sockets):
            shutil.chown(path, user=owner)
    data, port = root / "data", _free_port()
    subprocess.run(
        [*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-U", "marketo", "--pwfile", str(root / "pw"),
         "--auth", "scram-sha-256", "--locale", "C", "--encoding", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    # a throwaway server: durability is not worth its disk writes
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    subprocess.run(
        [*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield PostgresServer(port=port, password=password, root=root)
    finally:
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True
