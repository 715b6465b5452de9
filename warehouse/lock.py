"""One writer at a time per DuckDB warehouse: an flock'd file beside it that says who holds it.

DuckDB lets one process write a file, and a second one fails on open ("Could not set lock on file ...
Conflicting lock is held"), but only while the first has the file open: a loader opens and closes it
between its steps, and a `dbt build` that starts in such a gap interleaves with the load. The lock file
`<warehouse>.lock` is held for a whole run instead: by every loader (`python -m loaders ...`), and by dbt
through the profile's plugin (`warehouse.dbt_plugin`), so a bare `dbt build` takes it too.

A second run exits at once with EXIT_BUSY (4) and a message naming the run that holds the warehouse
(command, pid, since when), or waits up to WAREHOUSE_LOCK_WAIT_SECONDS for it. The kernel drops an flock
when its process dies, kill -9 included, so a crashed run never leaves the warehouse locked; the file's
text is only what the last holder wrote about itself.

A run that starts others (the daily job: loaders, then dbt) takes the lock once and hands it down: its
children find WAREHOUSE_LOCK_TOKEN in their environment, matching what the holder wrote, and go ahead.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shlex
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

EXIT_BUSY = 4
WAIT_ENV = "WAREHOUSE_LOCK_WAIT_SECONDS"
TOKEN_ENV = "WAREHOUSE_LOCK_TOKEN"
POLL_SECONDS = 0.2


class WarehouseBusy(Exception):
    """Another run holds the warehouse; the message says which and what to do."""

    exit_code = EXIT_BUSY


def lock_path(warehouse: str | os.PathLike[str]) -> Path:
    return Path(f"{Path(warehouse).resolve()}.lock")


def wait_seconds_from_env() -> float:
    value = os.environ.get(WAIT_ENV, "").strip()
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        raise WarehouseBusy(f"{WAIT_ENV}={value!r} is not a number of seconds") from None


class WarehouseLock:
    """`with WarehouseLock(path, "python -m loaders web"):` holds the warehouse for the block.

    `acquire()` returns once held (or handed down by the parent run); raises WarehouseBusy when another run
    still holds it after `wait_seconds`. `release()` is also what process exit does.
    """

    def __init__(
        self, warehouse: str | os.PathLike[str], command: str | None = None, wait_seconds: float | None = None
    ) -> None:
        self.warehouse = Path(warehouse).resolve()
        self.path = lock_path(self.warehouse)
        self.command = command or shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]])
        self.wait_seconds = wait_seconds_from_env() if wait_seconds is None else wait_seconds
        self.fd: int | None = None
        self.token: str | None = None

    def acquire(self) -> WarehouseLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.wait_seconds
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        said_waiting = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = self.holder()
                if self._handed_down(holder):
                    os.close(fd)
                    return self
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise WarehouseBusy(self.busy_message(holder)) from None
                if not said_waiting:
                    print(f"waiting for the warehouse: {describe(holder)}", file=sys.stderr, flush=True)
                    said_waiting = True
                time.sleep(POLL_SECONDS)
        self.fd = fd
        self.token = secrets.token_hex(8)
        info = {
            "pid": os.getpid(),
            "command": self.command,
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "host": socket.gethostname(),
            "token": self.token,
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        # the processes this run starts (loaders, dbt) go ahead under this lock
        os.environ[TOKEN_ENV] = f"{self.path}|{self.token}"
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        if os.environ.get(TOKEN_ENV) == f"{self.path}|{self.token}":
            del os.environ[TOKEN_ENV]
        os.close(self.fd)  # closing the only descriptor drops the flock
        self.fd = None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def _handed_down(self, holder: dict) -> bool:
        path, _, token = os.environ.get(TOKEN_ENV, "").partition("|")
        return bool(token) and path == str(self.path) and holder.get("token") == token

    def busy_message(self, holder: dict) -> str:
        waited = f" for {self.wait_seconds:g} s" if self.wait_seconds else ""
        return (
            f"the warehouse {self.warehouse} is in use{waited}: {describe(holder)} (lock file {self.path}). "
            f"Nothing was changed. Run again once it is done, or set {WAIT_ENV}=<seconds> to wait for it."
        )

    def __enter__(self) -> WarehouseLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def describe(holder: dict) -> str:
    if not holder.get("pid"):
        return "another run (it has not said which yet)"
    where = f"pid {holder['pid']} on {holder.get('host', '?')}, since {holder.get('since', '?')}"
    return f"`{holder.get('command', '?')}` ({where})"
