"""Run one benchmark step in a child process and measure its wall time and peak memory (RSS)."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    output: str


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO) -> Measured:
    """Wall time and the child's own peak RSS (os.wait4 gives the rusage of exactly that child)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-4000:]}")
    return Measured(seconds, usage.ru_maxrss / 1024, proc.returncode, output)


PY_SNIPPET_DUCKDB = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
t = time.monotonic()
con.execute(sys.argv[2])
print(time.monotonic() - t)
"""
