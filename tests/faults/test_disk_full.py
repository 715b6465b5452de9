"""A full disk during a load and during a build: the run fails with an error that says the disk is full, and
once space is freed the same command again ends with exactly a clean run's tables, nothing lost or twice.

The warehouse (and dlt's local state beside it) sits on a small tmpfs filled up by a ballast file, so the
run meets ENOSPC wherever it writes next. Where mounting is not allowed (no root), a file-size limit on the
process (RLIMIT_FSIZE) stands in for the full disk."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.faults.conftest import START
from tests.faults.support import (
    REPO,
    Row,
    Timer,
    assert_ok,
    dbt_build,
    differences,
    loader_env,
    marketo_env,
    raw_rows,
    run_loader,
    salesforce_env,
    web_env,
)
from tests.support import DBT

FREE_BYTES = 600_000  # what the ballast leaves: less than a load or a build writes


@contextmanager
def small_disk(path: Path, size_mb: int) -> Iterator[str]:
    """`path` as a tmpfs of `size_mb` MB (mode "tmpfs"), or a plain folder (mode "rlimit") where mounting
    is refused."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)], capture_output=True
    )
    try:
        yield "tmpfs" if mounted.returncode == 0 else "rlimit"
    finally:
        if mounted.returncode == 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """A ballast file that leaves FREE_BYTES free on the filesystem of `path`."""
    stat = os.statvfs(path)
    ballast = path / "ballast"
    with open(ballast, "wb") as f:
        f.truncate(0)
        remaining = stat.f_bavail * stat.f_frsize - FREE_BYTES
        block = b"\0" * (1 << 20)
        while remaining > 0:
            remaining -= f.write(block[: min(len(block), remaining)])
    return ballast


def _limited(cmd: list[str], env: dict[str, str], limit: int) -> subprocess.CompletedProcess:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, preexec_fn=cap, timeout=300)


def _says_disk_full(proc: subprocess.CompletedProcess) -> str:
    text = proc.stdout + proc.stderr
    for words in ("No space left on device", "File too large", "disk is full"):
        if words in text:
            return words
    raise AssertionError(f"the failure does not say the disk is full:\n{text[-4000:]}")


def test_disk_full_during_a_load(world, matrix, tmp_path):
    timer = Timer()
    disk = tmp_path / "disk"
    with small_disk(disk, 64) as mode, world.marketo() as mkto, world.salesforce() as sf:
        bucket = world.bucket(tmp_path / "bucket", world.web1)
        db = disk / "warehouse.duckdb"
        env = loader_env(db, {**marketo_env(mkto, START), **salesforce_env(sf), **web_env(bucket)})
        for source in ("marketo", "salesforce"):
            assert_ok(run_loader(source, env), f"{source} load")
        if mode == "tmpfs":
            ballast = fill(disk)
            failed = run_loader("web", env)
            ballast.unlink()
        else:
            import sys

            failed = _limited([sys.executable, "-m", "loaders", "web"], env, os.path.getsize(db) + FREE_BYTES)
        assert failed.returncode == 2, failed.stderr[-3000:]
        said = _says_disk_full(failed)
        assert_ok(run_loader("web", env), "the web load once space is free")
        problems = differences(db, world.ref1, ("raw_marketo", "raw_salesforce", "raw_web"))
        loaded = raw_rows(db, "raw_web")
    matrix.add(
        Row(
            f"disk full during the web load ({mode}), space freed, rerun",
            (f"exit 2 '{said}'; " if not problems else "DIFFERS: " + "; ".join(problems[:3]))
            + ("raw = clean run" if not problems else ""),
            loaded=loaded,
            seconds=timer.seconds,
        )
    )
    assert not problems


def test_disk_full_during_a_build(world, matrix, tmp_path):
    timer = Timer()
    disk = tmp_path / "disk"
    size = world.base2.stat().st_size // (1 << 20) + 24
    with small_disk(disk, size) as mode:
        db = disk / "warehouse.duckdb"
        shutil.copy(world.base2, db)
        if mode == "tmpfs":
            ballast = fill(disk)
            failed = dbt_build(db, workdir=tmp_path)
            ballast.unlink()
        else:
            env = {**os.environ, "DUCKDB_PATH": str(db), "MARKETO_PEOPLE_HOME": str(REPO), "DBT_PARTIAL_PARSE": "false"}
            cmd = [DBT, "build", "--exclude-resource-type", "unit_test", "--profiles-dir", str(REPO)]
            cmd += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
            failed = _limited(cmd, env, db.stat().st_size + FREE_BYTES)
        assert failed.returncode != 0, "the build did not meet the full disk"
        said = _says_disk_full(failed)
        assert_ok(dbt_build(db, workdir=tmp_path), "dbt build once space is free")
        problems = differences(db, world.ref2, ("main", "raw_marketo", "raw_salesforce", "raw_web"))
    matrix.add(
        Row(
            f"disk full during dbt build ({mode}), space freed, rerun",
            (f"exit {failed.returncode} '{said}'; " if not problems else "DIFFERS: " + "; ".join(problems[:3]))
            + ("marts = clean run" if not problems else ""),
            seconds=timer.seconds,
        )
    )
    assert not problems


pytestmark = pytest.mark.skipif(not hasattr(os, "statvfs"), reason="needs a POSIX filesystem")
