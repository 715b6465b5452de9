"""The benchmark's engine rows: the small scale's data built on Postgres and on Spark, against DuckDB.

For each engine the loaders land the same persons and events as for DuckDB (`--destination postgres` into a
throwaway Postgres server; `--destination filesystem`, Parquet under a lake folder, for Spark), then the same
`dbt build` runs from scratch, then after the same new day of events. Each row compares the engine's time with
DuckDB's for the same step, measured earlier in the same run; after the day, the engine's marts are compared
with DuckDB's row for row (sandbox/marts.py, both ways).
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb

from bench.measure import REPO, run_measured

DESTINATIONS = {"postgres": ["--destination", "postgres"], "spark": ["--destination", "filesystem"]}


def dbt_command(work: Path) -> list[str]:
    """The scheduled run the bench times on every engine: models and data tests (unit tests are CI's)."""
    return [
        str(Path(sys.executable).with_name("dbt")), "build", "--profiles-dir", str(REPO),
        "--target-path", str(work / "target"), "--log-path", str(work / "logs"), "--quiet",
        "--exclude-resource-type", "unit_test",
    ]  # fmt: skip


def load(sc, env: dict[str, str], destination: list[str], events: Path) -> None:
    """The Marketo loader against the emulator (the scale's persons) and the web loader on `events`."""
    from sandbox.marketo import MarketoEmulator

    marketo_env = {
        **env,
        "SOURCES__MARKETO__START_DATE": sc.start.isoformat(),
        "SOURCES__MARKETO__POLL_INTERVAL_SECONDS": "0.05",
        "SOURCES__MARKETO__COMPANY_REFRESH_DAYS": "-1",
    }
    with MarketoEmulator(
        sc.leads, [], workdir=Path(env["LOADERS_PIPELINES_DIR"]).parent / "emu", status_update_seconds=0
    ) as emu:
        marketo_env.update(emu.loader_env())
        run_measured([sys.executable, "-m", "loaders", "marketo", *destination], marketo_env)
    run_measured(
        [sys.executable, "-m", "loaders", "web", *destination], {**env, "SOURCES__WEB__BUCKET_URL": str(events)}
    )


def build_on(sc, engine: str, env: dict[str, str], attach) -> dict:
    """Load and build on `engine` (full, then the day); the timings and the marts check against DuckDB."""
    from sandbox import marts
    from sandbox.web_events import write_event_files

    work = sc.work / engine
    work.mkdir(parents=True, exist_ok=True)
    env = {**env, "LOADERS_PIPELINES_DIR": str(work / "pipelines")}
    events = work / "events"
    write_event_files(sc.page_view_frame, sc.form_frame, events, fmt="jsonl", gzip=True)
    load(sc, env, DESTINATIONS[engine], events)
    print(f"[bench]   {engine}: dbt build from scratch ...", flush=True)
    full = run_measured(dbt_command(work), env)
    write_event_files(sc.day[0], sc.day[1], events, fmt="jsonl", gzip=True)
    run_measured(
        [sys.executable, "-m", "loaders", "web", *DESTINATIONS[engine]],
        {**env, "SOURCES__WEB__BUCKET_URL": str(events)},
    )
    print(f"[bench]   {engine}: dbt build after one new day ...", flush=True)
    day = run_measured(dbt_command(work), env)
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        tables = marts.attach_duckdb(con, sc.day_db, "duck")
        attach(con, "other")
        checked = [t for t in tables if t.startswith(("biz_", "rpt_", "dq_"))]
        # every load is a dlt load of its own: its id is the only column that may differ
        differences = marts.differences(con, "duck", "other", checked, ignore={"_dlt_load_id"})
    return {"full": full, "day": day, "checked": checked, "differences": differences}
