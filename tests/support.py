"""Helpers shared by tests: run the real dbt CLI against a DuckDB file, query it."""

from __future__ import annotations

import json
import os
import shutil
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
