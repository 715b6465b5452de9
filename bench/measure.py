"""Run one benchmark step in a child process and measure its wall time and peak memory (RSS)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
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


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = REPO, check: bool = True) -> Measured:
    """Wall time and the step's own peak RSS, measured by the small bench.rss process in between. A non-zero
    exit raises unless check is false."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.rss", *cmd],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seconds = time.monotonic() - started
    match = re.search(r"__peak_rss_kb__=(\d+)", proc.stdout)
    output = re.sub(r"__peak_rss_kb__=\d+\n?", "", proc.stdout)
    if (check and proc.returncode != 0) or not match:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output[-4000:]}")
    return Measured(seconds, int(match.group(1)) / 1024, proc.returncode, output)


PY_SNIPPET_DUCKDB = """
import duckdb, sys, time
con = duckdb.connect(sys.argv[1])
t = time.monotonic()
con.execute(sys.argv[2])
print(time.monotonic() - t)
"""
