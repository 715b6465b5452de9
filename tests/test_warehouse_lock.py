"""The warehouse lock (warehouse/lock.py): one holder at a time, a message naming it, a wait, and a lock a
parent hands down to the processes it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from tests.support import REPO
from warehouse.lock import EXIT_BUSY, TOKEN_ENV, WarehouseBusy, WarehouseLock

LOCK = "import sys, time; from warehouse.lock import WarehouseLock; "
HOLD = (
    LOCK
    + "WarehouseLock(sys.argv[1], 'holder job').acquire(); print('held', flush=True); time.sleep(float(sys.argv[2]))"
)
TAKE = LOCK + "WarehouseLock(sys.argv[1], 'child', 0).acquire()"


def _holder(db, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_told_who_holds_the_warehouse(tmp_path):
    db = tmp_path / "w.duckdb"
    holder = _holder(db, 30)
    try:
        with pytest.raises(WarehouseBusy) as busy:
            WarehouseLock(db, "second", wait_seconds=0).acquire()
        message = str(busy.value)
        assert "`holder job`" in message and f"pid {holder.pid}" in message and "since 20" in message
        assert busy.value.exit_code == EXIT_BUSY == 4
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the lock with the process (kill -9 included): the next run gets it
    with WarehouseLock(db, "third", wait_seconds=0) as lock:
        assert lock.holder()["command"] == "third"


def test_a_run_told_to_wait_gets_the_warehouse_when_the_holder_ends(tmp_path):
    db = tmp_path / "w.duckdb"
    holder = _holder(db, 1.5)
    started = time.monotonic()
    with WarehouseLock(db, "waiter", wait_seconds=60):
        waited = time.monotonic() - started
    holder.wait()
    assert 0.5 < waited < 30


def test_a_holder_hands_the_lock_down_to_the_processes_it_starts(tmp_path):
    db = tmp_path / "w.duckdb"
    with WarehouseLock(db, "daily job", wait_seconds=0):
        assert os.environ[TOKEN_ENV].endswith("|" + WarehouseLock(db).holder()["token"])
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                TAKE,
                str(db),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
        )
        assert child.returncode == 0, child.stderr
        stranger = subprocess.run(
            [
                sys.executable,
                "-c",
                TAKE,
                str(db),
            ],
            cwd=REPO,
            env={k: v for k, v in {**os.environ, "PYTHONPATH": str(REPO)}.items() if k != TOKEN_ENV},
            capture_output=True,
            text=True,
        )
        assert stranger.returncode != 0 and "WarehouseBusy" in stranger.stderr
    assert TOKEN_ENV not in os.environ
