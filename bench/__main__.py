"""`python -m bench`: measure loaders and dbt at two scales, in one process run, and write the results.

Each step runs in a child process so its peak RSS is its own. Ratios compare our code with DuckDB doing
the same work directly on the same files, measured back to back in this run (the machines are noisy:
compare ratios, not seconds across runs).

  python -m bench                         # both scales (100k/1M and 1M/10M persons/page views)
  python -m bench --scale small           # one scale
  python -m bench --steps marketo         # some steps only (a step brings the ones it reads from:
                                          # --steps dbt,plain runs the loaders first, on fresh data)
  python -m bench --one-page-view-per-session   # the worst case for sessions (issue 6)

The `engines` step (on by default, small scale only) builds the same data on Postgres and on Spark (local
session), from scratch and after the same new day, with rows next to DuckDB's and a check that their marts
equal DuckDB's (bench/engines.py). It needs Java 17 and Debian's postgresql binaries.

The `dashboard` step (on by default, after dbt) serves the dashboards over the built warehouse's snapshot
and measures, in headless Chromium, each page's time from navigation to charts drawn (warm server) and the
redraw after a filter change; the dbt rows say what publishing the snapshot (dbt's on-run-end) cost.

The `plain` step (on by default) runs right after dbt's full build, on the same warehouse: bench/plain.sql,
the same rules hand-written as one plain DuckDB SQL script, timed the same way, then checked against dbt's
marts (python -m bench.plain --check). Its row gives the ratio dbt full build / plain script (issue 6's
"within 1.5x"), and another row the sum of dbt's model execution times (target/run_results.json: models
only, without the data tests) against the same script.

After the full build, the `dbt` step runs the daily job through its own entry point (`python -m orchestration
daily`: what `make daily` and the Dagster schedule run), with the Marketo emulator and the web files
configured: its first run (no state yet, so it builds everything), one new day of events (~1%), a day with
nothing new, and one more new day under Dagster (`dagster job execute`). Their dbt part (the run's wall time
minus its loaders', which the job records) is compared with the full build (issue 15: <= 10% for a new day,
<= 3% with nothing new); the whole job, loaders included, is reported beside.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

from bench.measure import PY_SNIPPET_DUCKDB, REPO, Measured, run_measured

SCALES = {
    "small": {"persons": 100_000, "page_views": 1_000_000},
    "large": {"persons": 1_000_000, "page_views": 10_000_000},
}
RESULTS = REPO / "bench" / "results"


DAILY_FIRST = "daily job, first run (no state yet)"
DAILY_DAY = "daily job after one new day"
DAILY_IDLE = "daily job with nothing new"
DASHBOARD_SNAPSHOT = "dashboard snapshot (dbt on-run-end)"
DASHBOARD_STEP = "dashboard page"


@dataclass
class Row:
    scale: str
    step: str
    rows: int
    seconds: float
    rows_per_s: float
    peak_rss_mb: float
    baseline: str = ""
    baseline_seconds: float | None = None
    ratio: float | None = None
    note: str = ""
    # whether both sides did the same work, checked on their results (rows landed, marts equal): True, False
    # (the ratio means nothing: the markdown and the goals say so), None (not a like-for-like row, or unchecked)
    same_work: bool | None = None


@dataclass
class Report:
    started: str
    machine: dict
    versions: dict
    rows: list[Row] = field(default_factory=list)


class Scale:
    """One scale's data and warehouse, shared by its steps (the marts are built from what the loaders landed)."""

    def __init__(
        self, name: str, persons: int, page_views: int, work: Path, one_page_view_per_session: bool = False
    ) -> None:
        from sandbox.people import generate_leads
        from sandbox.web_events import generate_web_events, happened_by

        self.name, self.persons, self.page_views = name, persons, page_views
        self.work = work / name
        self.work.mkdir(parents=True, exist_ok=True)
        self.end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        self.start = self.end - timedelta(days=30)  # one 31-day window: one bulk file, comparable with one read_csv
        self.db = self.work / "warehouse.duckdb"
        self.env = {"DUCKDB_PATH": str(self.db), "LOADERS_PIPELINES_DIR": str(self.work / "pipelines")}
        started = time.monotonic()
        self.leads = generate_leads(persons, seed=1, start=self.start, end=self.end)
        self.page_view_frame, self.form_frame = happened_by(
            *generate_web_events(
                self.leads,
                page_views,
                seed=1,
                start=self.start,
                end=self.end,
                one_page_view_per_session=one_page_view_per_session,
            ),
            self.end,
        )
        self.one_page_view_per_session = one_page_view_per_session
        self.with_plain = False  # the plain step: set by main() when asked for
        self.day: tuple = ()  # the daily job's first new day (page views, form submits), for the engines step
        self.day_db = self.work / "after-day.duckdb"  # DuckDB's warehouse after that day, for the engines step
        self.dbt_seconds: dict[str, float] = {}  # DuckDB's full build and day, for the engines step
        self.check_plain = True
        self.generate_seconds = time.monotonic() - started


def bench_marketo(sc: Scale) -> list[Row]:
    """The Marketo loader from the emulator's bulk file into DuckDB vs DuckDB's read_csv of that file."""
    from sandbox.marketo import MarketoEmulator

    env = {
        **sc.env,
        "SOURCES__MARKETO__START_DATE": sc.start.isoformat(),
        "SOURCES__MARKETO__POLL_INTERVAL_SECONDS": "0.05",
        "SOURCES__MARKETO__COMPANY_REFRESH_DAYS": "-1",
    }
    emu_dir = sc.work / "emu"
    with MarketoEmulator(sc.leads, [], workdir=emu_dir, status_update_seconds=0) as emu:
        env.update(emu.loader_env())
        loader = run_measured([sys.executable, "-m", "loaders", "marketo"], env)
        marketo_share = emu.stats.export_write_seconds
    bulk_file = sorted(emu_dir.rglob("*.csv"), key=lambda p: p.stat().st_size)[-1]
    sql = (
        f"create table leads as select * from read_csv('{bulk_file}', header=true, nullstr='null', "
        "quote='\"', escape='\"', new_line='\\n', strict_mode=false)"
    )
    duck = run_measured([sys.executable, "-c", PY_SNIPPET_DUCKDB, str(sc.work / "baseline.duckdb"), sql])
    duck_seconds = float(duck.output.strip().splitlines()[-1])
    ours = loader.seconds - marketo_share  # the emulator writing the export file is Marketo's time, not ours
    landed = _count(sc.db, "select count(*) from raw_marketo.leads")
    read = _count(sc.work / "baseline.duckdb", "select count(*) from leads")
    same, sides = _same_rows("persons", landed, read)
    return [
        Row(
            sc.name,
            "marketo loader: bulk file -> DuckDB",
            sc.persons,
            ours,
            sc.persons / ours,
            loader.peak_rss_mb,
            "DuckDB read_csv of the same bulk file",
            duck_seconds,
            ours / duck_seconds,
            f"bulk file {bulk_file.stat().st_size / 1e6:.0f} MB; process wall time {loader.seconds:.1f}s "
            f"minus {marketo_share:.1f}s of the emulator writing the export (Marketo's side); {sides}",
            same,
        )
    ]


MARKETO_API_STEP = "marketo loader, whole API path: two years of persons, 31-day export jobs -> DuckDB"


def bench_marketo_api(sc: Scale) -> list[Row]:
    """`python -m loaders marketo` through the whole API path (token, describe, export jobs, polling,
    downloads, checks, loads, the delete feed) on the scale's number of persons created over two years (24
    export windows, the first import of a real instance), against downloading the same export files and one
    DuckDB read_csv of them (bench/marketo_files.py). The call budget is lifted (Marketo's 100 calls per 20 s
    would time the budget, not the code); the limits of two processing jobs and ten concurrent calls stay."""
    from sandbox.marketo import MarketoEmulator
    from sandbox.people import generate_leads

    start = sc.end - timedelta(days=730)
    leads = generate_leads(sc.persons, seed=2, start=start, end=sc.end)
    work = sc.work / "marketo-api"
    db = work / "warehouse.duckdb"
    env = {
        "DUCKDB_PATH": str(db),
        "LOADERS_PIPELINES_DIR": str(work / "pipelines"),
        "SOURCES__MARKETO__START_DATE": start.isoformat(),
        "SOURCES__MARKETO__POLL_INTERVAL_SECONDS": "0.05",
        "SOURCES__MARKETO__COMPANY_REFRESH_DAYS": "-1",
        "SOURCES__MARKETO__MAX_CALLS_PER_20S": "100000",
    }
    with MarketoEmulator(leads, [], workdir=work / "emu", status_update_seconds=0) as emu:
        emu.enforce_rate_limits = False  # the budget is lifted on both sides; 2 jobs processing still hold
        env.update(emu.loader_env())
        loader = run_measured([sys.executable, "-m", "loaders", "marketo"], env)
        marketo_share = emu.stats.export_write_seconds
        exports = sorted(p.stem for p in (work / "emu").glob("*.csv"))
        files = run_measured(
            [
                sys.executable,
                "-m",
                "bench.marketo_files",
                emu.base_url,
                emu.client_id,
                emu.client_secret,
                str(work / "baseline.duckdb"),
                str(work / "files"),
                *exports,
            ]
        )
    baseline_seconds, baseline_rows = files.output.strip().splitlines()[-2:]
    baseline_seconds = float(baseline_seconds)
    landed = _count(db, "select count(*) from raw_marketo.leads")
    same, sides = _same_rows("persons", landed, int(baseline_rows))
    ours = loader.seconds - marketo_share
    return [
        Row(
            sc.name,
            MARKETO_API_STEP,
            sc.persons,
            ours,
            sc.persons / ours,
            loader.peak_rss_mb,
            "download the same export files + one DuckDB read_csv",
            baseline_seconds,
            ours / baseline_seconds,
            f"{len(exports)} export files; process wall time {loader.seconds:.1f}s "
            f"({loader.seconds / baseline_seconds:.2f}x the baseline) "
            f"minus {marketo_share:.1f}s of the emulator writing the exports (Marketo's side, in the bench's "
            f"process); {sides}",
            same,
        )
    ]


def bench_web(sc: Scale) -> list[Row]:
    """The web loader on gzipped JSONL event files vs DuckDB's read_json of the same files."""
    from sandbox.web_events import write_event_files

    folder = sc.work / "events"
    write_event_files(sc.page_view_frame, sc.form_frame, folder, fmt="jsonl", gzip=True)
    rows = len(sc.page_view_frame) + len(sc.form_frame)
    loader = run_measured([sys.executable, "-m", "loaders", "web"], {**sc.env, "SOURCES__WEB__BUCKET_URL": str(folder)})
    sql = (
        f"create table events as select * from read_json('{folder}/*.jsonl.gz', format='newline_delimited', "
        "union_by_name=true)"
    )
    duck = run_measured([sys.executable, "-c", PY_SNIPPET_DUCKDB, str(sc.work / "baseline.duckdb"), sql])
    duck_seconds = float(duck.output.strip().splitlines()[-1])
    landed = _count(
        sc.db, "select (select count(*) from raw_web.page_views) + (select count(*) from raw_web.form_submits)"
    )
    same, sides = _same_rows("events", landed, _count(sc.work / "baseline.duckdb", "select count(*) from events"))
    return [
        Row(
            sc.name,
            "web loader: JSONL.gz event files -> DuckDB",
            rows,
            loader.seconds,
            rows / loader.seconds,
            loader.peak_rss_mb,
            "DuckDB read_json of the same files",
            duck_seconds,
            loader.seconds / duck_seconds,
            f"{len(list(folder.iterdir()))} files; {sides}",
            same,
        )
    ]


def bench_dbt(sc: Scale) -> list[Row]:
    """`dbt build` from scratch, then the daily job on the days after, through its own entry point
    (`python -m orchestration daily`, what `make daily` and the Dagster schedule run): its first run (no state
    yet), one new day of events (about 1%), a day with nothing new, and one more new day under Dagster."""
    dbt = str(Path(sys.executable).with_name("dbt"))
    cmd = [
        dbt,
        "build",
        "--profiles-dir",
        str(REPO),
        "--target-path",
        str(sc.work / "target"),
        "--log-path",
        str(sc.work / "logs"),
        "--quiet",
        # a scheduled run: models and data tests; unit tests belong to development and CI (make test)
        "--exclude-resource-type",
        "unit_test",
    ]
    missing = _raw_inputs_missing(sc.db)
    if missing:
        raise SystemExit(
            f"bench: the dbt step needs the raw data the loaders land, and {sc.db} has none ({missing}); "
            "run it with the marketo and web steps (python -m bench --steps marketo,web,dbt)"
        )
    if sc.with_plain:  # the models-only build starts from the same raw data, in a copy of the warehouse
        shutil.copy(sc.db, sc.work / "models-only.duckdb")
    full = run_measured(cmd, sc.env)
    publish = {"full": _snapshot_seconds(sc.work / "logs" / "dbt.log")}
    rows = len(sc.page_view_frame) + len(sc.form_frame)
    shape = f"{sc.persons:,} persons, {sc.page_views:,} page views" + (
        ", one page view per session" if sc.one_page_view_per_session else ""
    )
    out = [
        Row(
            sc.name,
            "dbt build from scratch (models + data tests)",
            rows,
            full.seconds,
            rows / full.seconds,
            full.peak_rss_mb,
            note=shape,
        )
    ]
    if sc.with_plain:
        models_only = _models_only_build(sc, cmd)
        out += bench_plain(sc, full.seconds, rows, models_only)
    return out + bench_daily(sc, full.seconds, publish)


def bench_daily(sc: Scale, full_seconds: float, publish: dict[str, float]) -> list[Row]:
    """The daily job on the warehouse the full build made, with the Marketo emulator (nothing new there) and
    the web event files: the dbt part of each run is its wall time minus its loaders' (the job records them
    in its state, run.json)."""
    from sandbox.marketo import MarketoEmulator
    from sandbox.web_events import next_day_of_events, write_event_files

    state = sc.work / "daily-state"
    home = sc.work / "dagster-home"
    home.mkdir(exist_ok=True)
    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **sc.env,
        "DAILY_STATE_DIR": str(state),
        "DAGSTER_HOME": str(home),
        "SOURCES__WEB__BUCKET_URL": str(sc.work / "events"),
        "SOURCES__MARKETO__START_DATE": sc.start.isoformat(),
        "SOURCES__MARKETO__POLL_INTERVAL_SECONDS": "0.05",
        "SOURCES__MARKETO__COMPANY_REFRESH_DAYS": "-1",
    }
    daily = [sys.executable, "-m", "orchestration", "daily"]
    dagster = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m", "orchestration.definitions"]

    def new_day(seed: int) -> int:
        views, forms = next_day_of_events(sc.page_view_frame, sc.form_frame, seed=seed)
        write_event_files(views, forms, sc.work / "events" / f"day-{seed}", fmt="jsonl", gzip=True)
        if not sc.day:
            sc.day = (views, forms)  # the engines step replays this day on Postgres and Spark
        return len(views) + len(forms)

    def dbt_part(run: Measured) -> tuple[float, str]:
        seconds = json.loads((state / "last-success" / "run.json").read_text())["seconds"]
        loaders = seconds["loaders"]
        part = run.seconds - loaders  # Python's start-up and exit count as dbt's
        breakdown = _dbt_run_breakdown(state / "target" / "run_results.json", seconds.get("build", 0.0))
        note = (
            f"whole job {run.seconds:.1f}s: loaders {loaders:.1f}s, "
            f"plan (dbt start-up, parse, source freshness, selection) {seconds['plan']:.1f}s, "
            + (f"build {seconds['build']:.1f}s ({breakdown})" if "build" in seconds else "no build")
        )
        return part, note

    with MarketoEmulator(sc.leads, [], workdir=sc.work / "emu-daily", status_update_seconds=0) as emu:
        env.update(emu.loader_env())
        first = run_measured(daily, env)
        first_part, first_note = dbt_part(first)
        events = new_day(7)
        day = run_measured(daily, env)
        day_part, day_note = dbt_part(day)
        # the engines step compares its marts after the same day with these
        shutil.copy(sc.db, sc.day_db)
        sc.dbt_seconds = {"full": full_seconds, "day": day_part}
        publish["day"] = _snapshot_seconds(state / "logs" / "dbt.log")
        print(f"[bench]   daily job, one new day: {day_note}", flush=True)
        idle = run_measured(daily, env)
        idle_part, idle_note = dbt_part(idle)
        publish["idle"] = _snapshot_seconds(state / "logs" / "dbt.log")
        print(f"[bench]   daily job, nothing new: {idle_note}", flush=True)
        more = new_day(8)
        under_dagster = run_measured([*dagster, "--job", "daily"], env)

    def row(step: str, n: int, seconds: float, run: Measured, note: str, ratio: bool = True) -> Row:
        return Row(
            sc.name,
            step,
            n,
            seconds,
            n / seconds,
            run.peak_rss_mb,
            "the full build above" if ratio else "",
            full_seconds if ratio else None,
            seconds / full_seconds if ratio else None,
            note,
        )

    return [
        row(f"{DAILY_FIRST}: builds everything, dbt part", 0, first_part, first, first_note),
        row(f"{DAILY_DAY} (~1% events): dbt part", events, day_part, day, day_note),
        row(f"{DAILY_IDLE}: dbt part", 0, idle_part, idle, idle_note),
        row(f"{DAILY_DAY}, whole job (loaders + dbt)", events, day.seconds, day, day_note, ratio=False),
        row(
            f"{DAILY_DAY}, whole job under Dagster (dagster job execute)",
            more,
            under_dagster.seconds,
            under_dagster,
            "one more new day; the same job in the Dagster definitions (in-process executor, its own DAGSTER_HOME)",
            ratio=False,
        ),
    ] + [
        Row(
            sc.name,
            f"{DASHBOARD_SNAPSHOT}, {label}",
            0,
            publish[key],
            0.0,
            0.0,
            baseline,
            build_seconds,
            publish[key] / build_seconds,
            "part of the build's time above (dbt's on-run-end hook, macros/dashboard_snapshot.sql)",
        )
        for key, label, baseline, build_seconds in (
            ("full", "after the full build", "the full build above", full_seconds),
            ("day", "after the daily job's new day", "that day's dbt part above", day_part),
            ("idle", "after the daily job with nothing new", "that run's dbt part above", idle_part),
        )
    ]


def bench_engines(sc: Scale) -> list[Row]:
    """The same data and the same two dbt builds on Postgres and Spark, next to DuckDB's (bench/engines.py)."""
    from bench.engines import build_on
    from sandbox import marts
    from sandbox.postgres import postgres_server

    if sc.name != "small":
        print(f"[bench]   engines: small scale only (skipped at {sc.name})", flush=True)
        return []
    if not sc.day:
        raise SystemExit("bench: the engines step compares with DuckDB's builds: run it after marketo,web,dbt")
    rows_full = len(sc.page_view_frame) + len(sc.form_frame)
    rows_day = len(sc.day[0]) + len(sc.day[1])
    results = {}
    with postgres_server(root=sc.work) as server:
        server.create_database("bench")
        pg_env = {**server.env("bench"), "DBT_TARGET": "postgres"}

        def attach_postgres(con, alias):
            pg = server.connect("bench")
            try:
                marts.attach_postgres(con, pg, "analytics", alias)
            finally:
                pg.close()

        results["postgres"] = build_on(sc, "postgres", pg_env, attach_postgres)
    spark_env = {
        "DBT_TARGET": "spark",
        "LAKE_PATH": str(sc.work / "spark" / "lake"),
        "SPARK_WAREHOUSE_DIR": str(sc.work / "spark" / "warehouse"),
    }
    results["spark"] = build_on(
        sc,
        "spark",
        spark_env,
        lambda con, alias: marts.attach_spark(con, sc.work / "spark" / "warehouse", "analytics", alias),
    )
    out = []
    for engine, result in results.items():
        differing = result["differences"]
        verdict = (
            f"marts equal DuckDB's ({len(result['checked'])} biz_/rpt_/dq_ tables, both ways)"
            if not differing
            else f"marts DIFFER from DuckDB's: {', '.join(differing)}"
        )
        if differing:
            print(f"[bench]   {engine}: {differing}", flush=True)
        for step, seconds, rows, what in (
            ("full", result["full"], rows_full, "dbt build from scratch"),
            ("day", result["day"], rows_day, "dbt build, incremental, after one new day"),
        ):
            out.append(
                Row(
                    sc.name,
                    f"{what} on {engine} (models + data tests)",
                    rows,
                    seconds.seconds,
                    rows / seconds.seconds,
                    seconds.peak_rss_mb,
                    f"DuckDB, {what}",
                    sc.dbt_seconds[step],
                    seconds.seconds / sc.dbt_seconds[step],
                    verdict + ("; peak RSS is dbt's process, without the Spark JVM" if engine == "spark" else ""),
                )
            )
    return out


def _models_only_build(sc: Scale, cmd: list[str]) -> Measured:
    """`dbt build` without data tests (seeds and models: what `dbt seed && dbt run` does, in one process) from
    scratch, on the copy of the warehouse taken before the full build: the models-only side of the plain
    script's rows. Its run_results.json is in <work>/target-models-only."""
    models_db = sc.work / "models-only.duckdb"
    command = [
        *[a if a != str(sc.work / "target") else str(sc.work / "target-models-only") for a in cmd],
        "--exclude-resource-type",
        "test",
    ]
    try:
        return run_measured(command, {**sc.env, "DUCKDB_PATH": str(models_db)})
    finally:
        models_db.unlink(missing_ok=True)
        shutil.rmtree(sc.work / "models-only.duckdb.dashboard", ignore_errors=True)


def bench_plain(sc: Scale, dbt_seconds: float, rows: int, models_only: Measured) -> list[Row]:
    """bench/plain.sql on the warehouse dbt just built: timed like dbt (a child process), then checked."""
    plain = run_measured([sys.executable, "-m", "bench.plain", "--timings", str(sc.db)], sc.env)
    statements = _plain_statement_times(plain.output)
    if sc.check_plain:
        check = run_measured([sys.executable, "-m", "bench.plain", "--check", str(sc.db)], sc.env, check=False)
        matches = check.returncode == 0
    else:
        check = Measured(0.0, 0.0, 0, "(check skipped: --skip-plain-check)")
        matches = None
    if matches is False:
        print(check.output[-6000:], flush=True)
    models = _dbt_model_times(sc.work / "target" / "run_results.json")  # the daily job writes elsewhere
    extra = _dbt_work_beyond_plain(sc.work / "target-models-only" / "run_results.json")
    slowest_models = ", ".join(f"{name} {t:.1f}s" for name, t in sorted(models.items(), key=lambda kv: -kv[1])[:5])
    slowest_statements = ", ".join(f"{name} {t:.1f}s" for name, t in sorted(statements, key=lambda kv: -kv[1])[:5])
    print(f"[bench]   dbt slowest models: {slowest_models}", flush=True)
    print(f"[bench]   plain slowest statements: {slowest_statements}", flush=True)
    (sc.work / "plain_timings.txt").write_text(plain.output + "\n" + check.output)
    compared = _plain_check_rows(check.output)
    verdict = {
        True: f"matches dbt's marts ({compared})",
        False: "DIFFERS from dbt's marts or compared nothing (see the bench output): "
        + "; ".join(line for line in check.output.splitlines() if "DIFFERS" in line or "EMPTY" in line)[:500],
        None: "not checked against dbt's marts (--skip-plain-check)",
    }[matches]
    return [
        Row(
            sc.name,
            "dbt build from scratch vs the same rules as one plain SQL script",
            rows,
            dbt_seconds,
            rows / dbt_seconds,
            plain.peak_rss_mb,
            "plain SQL script",
            plain.seconds,
            dbt_seconds / plain.seconds,
            f"bench/plain.sql {verdict}; peak RSS is the plain script's; slowest statements: {slowest_statements}",
            matches,
        ),
        Row(
            sc.name,
            "dbt models only (seeds + models from scratch, no data tests) vs the plain SQL script",
            rows,
            models_only.seconds,
            rows / models_only.seconds,
            models_only.peak_rss_mb,
            "plain SQL script",
            plain.seconds,
            models_only.seconds / plain.seconds,
            f"`dbt build --exclude-resource-type test` on a copy of the loaded warehouse (what `dbt seed && dbt "
            f"run` does, in one process); {extra}; slowest models of the full build: {slowest_models}",
            matches,
        ),
    ]


def _dbt_work_beyond_plain(path: Path) -> str:
    """What a dbt build does that bench/plain.sql does not, from its run_results.json: the dashboard's rpt_
    models and the on-run-end snapshot (the plain script builds the 16 marts of bench.plain.MARTS and their
    intermediate steps), and dbt's own time around the nodes."""
    if not path.exists():
        return "no run_results.json"
    from bench.plain import MARTS

    run = json.loads(path.read_text())
    beyond = {
        r["unique_id"].split(".")[-1]: r["execution_time"]
        for r in run["results"]
        if r["unique_id"].split(".")[-1].startswith("rpt_") and r["unique_id"].split(".")[-1] not in MARTS
    }
    hooks = sum(r["execution_time"] for r in run["results"] if r["unique_id"].startswith("operation."))
    nodes = sum(r["execution_time"] for r in run["results"])
    return (
        f"dbt also builds {len(beyond)} models the plain script does not ({', '.join(sorted(beyond))}: "
        f"{sum(beyond.values()):.1f}s of node time) and runs its hooks (the dashboard snapshot, {hooks:.1f}s); "
        f"{len(run['results'])} nodes, {nodes:.1f}s of node time over {run['elapsed_time']:.1f}s of run"
    )


def _count(db: Path, sql: str) -> int | None:
    """One number from a warehouse (read-only), or None when the table is not there."""
    import duckdb

    try:
        with duckdb.connect(str(db), read_only=True) as con:
            return con.execute(sql).fetchone()[0]
    except (duckdb.CatalogException, duckdb.IOException):
        return None


def _same_rows(what: str, ours: int | None, baseline: int | None) -> tuple[bool, str]:
    """Whether both sides of a row landed the same, non-zero number of rows, and a note saying so."""
    if ours and ours == baseline:
        return True, f"both sides landed {ours:,} {what}"
    return False, f"NOT THE SAME WORK: ours landed {ours or 0:,} {what}, the baseline {baseline or 0:,}"


def _raw_inputs_missing(db: Path) -> str:
    """What the dbt step lacks in `db` ('' when the loaders landed persons and page views)."""
    found = {
        table: _count(db, f"select count(*) from {table}") for table in ("raw_marketo.leads", "raw_web.page_views")
    }
    return ", ".join(f"{table} {'is empty' if n == 0 else 'does not exist'}" for table, n in found.items() if not n)


def _plain_check_rows(output: str) -> str:
    """'16 marts, 1,234 rows each side' from `python -m bench.plain --check`'s table."""
    marts = [line.split() for line in output.splitlines() if line.rstrip().endswith((" ok", " DIFFERS", " EMPTY"))]
    rows = sum(int(parts[2].replace(",", "")) for parts in marts if len(parts) >= 5 and parts[1] == "dbt")
    return f"{len(marts)} marts, {rows:,} rows compared"


def _snapshot_seconds(log: Path) -> float:
    """How long the last dbt invocation's on-run-end hook (the dashboard snapshot) took, from dbt's log."""
    if not log.exists():
        return 0.0
    found = re.findall(r"OK hook: marketo_people\.on-run-end\.0 .*? in ([0-9.]+)s", log.read_text(errors="replace"))
    return float(found[-1]) if found else 0.0


# each page, and the filter change measured on it: (what is typed into, widget label, value); the channels
# differ so that each change asks for numbers the server has not computed yet (filters follow across pages)
DASHBOARD_CHANGES = {
    "Engagement": ("multiselect", "Channel", "Organic Search"),
    "Web Traffic": ("multiselect", "Channel", "Paid Search"),
    "New persons": ("multiselect", "First-touch channel", "Email"),
    "Reconciliation": ("multiselect", "First-touch channel", "Direct"),
    "Journey": ("text", "Email", None),  # an email of the warehouse
}


def bench_dashboard(sc: Scale) -> list[Row]:
    """Each page in headless Chromium on a warm server (its code loaded and the latest build prepared, after a
    first visit of every page): navigation with the sidebar to charts drawn, then a filter change to the
    redraw, both asking for numbers the server has not computed before. The first visits are in the notes."""
    import duckdb

    from bench.browser import Browser, DashboardServer, browser_missing

    missing = browser_missing()
    if missing:
        print(f"[bench]   dashboard step skipped: {missing}", flush=True)
        return []
    with duckdb.connect(str(sc.db), read_only=True) as con:
        (email,) = con.execute(
            "select email from biz_touchpoints where not is_duplicate group by email "
            "order by count(*) desc, email limit 1"
        ).fetchall()[0]
    out = []
    with DashboardServer(sc.env) as server, Browser(server.url) as browser:
        loads = {page: browser.open(page, "period=last_30_days", timeout=600) for page in DASHBOARD_CHANGES}
        browser.open("Journey", "period=last_90_days", timeout=600)
        for page, (action, label, value) in DASHBOARD_CHANGES.items():
            navigation = browser.navigate(page, timeout=300)
            # typed before the clock starts; timed from the key that applies it
            change = browser.changed(getattr(browser, f"staged_{action}")(label, value or email), 300)
            out.append(
                Row(
                    sc.name,
                    f"{DASHBOARD_STEP} {page}: navigation to charts drawn (warm server)",
                    0,
                    navigation,
                    0.0,
                    _peak_rss_mb(server.proc.pid),
                    f"filter change ({label}) to redraw",
                    change,
                    None,
                    f"{browser.charts()[0]} chart(s) drawn; its first visit (a full page load: the app fetched, "
                    f"the build prepared on the very first) {loads[page]:.2f}s; peak RSS is the dashboard server's",
                )
            )
    return out


def _peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024


def _plain_statement_times(output: str) -> list[tuple[str, float]]:
    """(statement, seconds) from `python -m bench.plain --timings`: the table each statement creates."""
    out = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].endswith("s") and "table" in parts:
            name = parts[parts.index("table") + 1]
            out.append((name.removeprefix("plain."), float(parts[0][:-1])))
    return out


def _dbt_model_times(path: Path) -> dict[str, float]:
    results = json.loads(path.read_text())["results"] if path.exists() else []
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results if r["unique_id"].startswith("model.")}


def _dbt_run_breakdown(path: Path, wall_seconds: float) -> str:
    """Where a dbt invocation's time went, from its run_results.json: start-up and exit (the process's wall
    time minus dbt's own elapsed time), node time of models and of data tests (summed over threads), and
    the slowest models."""
    if not path.exists():
        return "no run_results.json"
    run = json.loads(path.read_text())
    by_kind: dict[str, float] = {}
    for r in run["results"]:
        kind = r["unique_id"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + r["execution_time"]
    models = _dbt_model_times(path)
    slowest = ", ".join(f"{name} {t:.1f}s" for name, t in sorted(models.items(), key=lambda kv: -kv[1])[:5])
    return (
        f"dbt start-up and exit {wall_seconds - run['elapsed_time']:.1f}s, run {run['elapsed_time']:.1f}s "
        f"({len(run['results'])} nodes; node time: models {by_kind.get('model', 0):.1f}s, "
        f"data tests {by_kind.get('test', 0):.1f}s); slowest models: {slowest}"
    )


STEPS = {
    "marketo": bench_marketo,
    "marketo_api": bench_marketo_api,
    "web": bench_web,
    "dbt": bench_dbt,
    "engines": bench_engines,
    "plain": None,  # plain: inside dbt
    "dashboard": bench_dashboard,
}


# what each step reads, made by the steps before it in the same run: dbt builds from what the loaders landed,
# the plain script and the dashboard read dbt's warehouse, the engines compare with DuckDB's builds
STEP_INPUTS = {
    "dbt": ["marketo", "web"],
    "plain": ["dbt"],
    "dashboard": ["dbt"],
    "engines": ["dbt"],
}


def with_inputs(asked: list[str]) -> tuple[list[str], list[str]]:
    """The steps to run for `asked` (each brings the steps its inputs come from), in STEPS order, and the
    ones added. Raises ValueError on an unknown step."""
    unknown = [s for s in asked if s not in STEPS]
    if unknown:
        raise ValueError(f"unknown steps {unknown}; use {', '.join(STEPS)}")
    wanted, todo = set(), list(asked)
    while todo:
        step = todo.pop()
        if step not in wanted:
            wanted.add(step)
            todo.extend(STEP_INPUTS.get(step, []))
    return [s for s in STEPS if s in wanted], [s for s in STEPS if s in wanted and s not in asked]


def machine() -> dict:
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9
    return {
        "cores": os.cpu_count(),
        "memory_gb": round(mem_gb, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def versions() -> dict:
    out = {}
    for pkg in ("dlt", "dbt-core", "dbt-duckdb", "dbt-postgres", "dbt-spark", "pyspark", "duckdb", "pyarrow", "pandas"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def to_markdown(report: Report) -> str:
    lines = [
        f"# Benchmark {report.started}",
        "",
        f"Machine: {report.machine['cores']} cores, {report.machine['memory_gb']} GB, {report.machine['platform']}; "
        + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
        "",
        "| scale | step | rows | seconds | rows/s | peak RSS MB | baseline | baseline s | ratio |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in report.rows:
        lines.append(
            f"| {r.scale} | {r.step} | {r.rows:,} | {r.seconds:.1f} | {r.rows_per_s:,.0f} | {r.peak_rss_mb:,.0f} | "
            f"{r.baseline} | {'' if r.baseline_seconds is None else f'{r.baseline_seconds:.1f}'} | "
            f"{_ratio_cell(r)} |"
        )
    notes = [f"- {r.scale} / {r.step}: {r.note}" for r in report.rows if r.note]
    lines += ["", "Goals (issues 6 and 15), from the rows above:"] + goals(report.rows)
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def _ratio_cell(r: Row) -> str:
    if r.ratio is None:
        return ""
    return f"{r.ratio:.2f}x" + (" (NOT THE SAME WORK: no ratio)" if r.same_work is False else "")


def _verdict(r: Row, goal: float) -> str:
    """'met' / 'MISSED', or why the row cannot say (its two sides did not do the same work)."""
    if r.same_work is False:
        return "NOT MEASURED (the two sides did not do the same work: see the row's note)"
    return "met" if r.ratio <= goal else "MISSED"


def goals(rows: list[Row]) -> list[str]:
    def find(scale: str, prefix: str) -> Row | None:
        return next((r for r in rows if r.scale == scale and r.step.startswith(prefix)), None)

    out = []
    for r in rows:
        if r.step == MARKETO_API_STEP and r.ratio:
            out.append(
                f"- {r.scale} marketo loader through the API path within 3x of download + read_csv: {r.ratio:.2f}x "
                f"{_verdict(r, 3)}"
            )
        elif r.step.startswith(("marketo loader", "web loader")) and r.ratio:
            out.append(f"- {r.scale} {r.step.split(':')[0]} within 3x of DuckDB: {r.ratio:.2f}x {_verdict(r, 3)}")
        if r.step.startswith(DAILY_DAY) and r.ratio:
            out.append(
                f"- {r.scale} daily job's dbt part after a new day <= 10% of full build: {r.ratio:.1%} "
                f"{'met' if r.ratio <= 0.10 else 'MISSED'}"
            )
        if r.step.startswith(DAILY_IDLE) and r.ratio:
            out.append(
                f"- {r.scale} daily job's dbt part with nothing new <= 3% of full build: {r.ratio:.1%} "
                f"{'met' if r.ratio <= 0.03 else 'MISSED'}"
            )
        if r.step.startswith(("dbt build from scratch vs", "dbt models only")) and r.ratio:
            # issue 18: within 1.5x where dbt's cost per node weighs most, no slower than the script at 1M / 10M
            goal = 1.0 if r.scale == "large" else 1.5
            what = "models + data tests" if r.step.startswith("dbt build") else "models only"
            out.append(
                f"- {r.scale} dbt full build ({what}) within {goal:g}x of plain SQL: {r.ratio:.2f}x {_verdict(r, goal)}"
            )
    for r in rows:
        if r.step.startswith(DASHBOARD_STEP + " ") and r.baseline_seconds is not None:
            page = r.step.split(":")[0].removeprefix(DASHBOARD_STEP + " ")
            out.append(
                f"- {r.scale} dashboard {page}: navigation {r.seconds:.2f}s <= 1 s "
                f"{'met' if r.seconds <= 1 else 'MISSED'}, filter change {r.baseline_seconds:.2f}s <= 0.5 s "
                f"{'met' if r.baseline_seconds <= 0.5 else 'MISSED'}"
                + ("" if r.scale == "large" else " (the goal is set at the large scale)")
            )
        if r.step.startswith(DASHBOARD_SNAPSHOT + ", after the daily job's new day") and r.ratio is not None:
            out.append(f"- {r.scale} dashboard snapshot: {r.ratio:.1%} of the daily job's new day ({r.seconds:.1f}s)")
    small, large = find("small", "dbt build from scratch ("), find("large", "dbt build from scratch (")
    if small and large:
        growth = large.seconds / small.seconds
        out.append(f"- full build at 10x the data <= 12x the time: {growth:.1f}x {'met' if growth <= 12 else 'MISSED'}")
    peak = max((r.peak_rss_mb for r in rows if r.scale == "large"), default=None)
    if peak:
        out.append(
            f"- peak memory at 1M persons / 10M page views <= 4 GB: {peak / 1024:.2f} GB "
            f"{'met' if peak <= 4096 else 'MISSED'}"
        )
    return out or ["- (run both scales and all steps to evaluate the goals)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=[*SCALES, "all"], default="all")
    parser.add_argument(
        "--steps",
        default=",".join(STEPS),
        help=f"comma list of {', '.join(STEPS)}; a step brings the steps whose output it reads (dbt: the "
        "marketo and web loaders; plain, dashboard and engines: dbt)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder (data, warehouses)")
    parser.add_argument("--persons", type=int, help="override the scale's persons (a quick check of the steps)")
    parser.add_argument("--page-views", type=int, help="override the scale's page views (a quick check)")
    parser.add_argument(
        "--one-page-view-per-session",
        action="store_true",
        help="generate every session as one page view: the worst case for sessionization (issue 6)",
    )
    parser.add_argument(
        "--skip-plain-check",
        action="store_true",
        help="do not compare the plain script's marts with dbt's (the check takes minutes at the large scale)",
    )
    args = parser.parse_args(argv)
    try:
        steps, added = with_inputs([s for s in args.steps.split(",") if s])
    except ValueError as exc:
        parser.error(str(exc))
    if added:
        print(
            f"[bench] also running {', '.join(added)}: the steps asked for ({args.steps}) read what they make "
            "(every run starts from an empty warehouse)",
            flush=True,
        )
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")

    report = Report(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine(), versions())
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=REPO / "bench"))
    try:
        for scale in SCALES if args.scale == "all" else [args.scale]:
            print(
                f"[bench] {scale}: generating {args.persons or SCALES[scale]['persons']:,} persons and "
                f"{args.page_views or SCALES[scale]['page_views']:,} page views ...",
                flush=True,
            )
            data = Scale(
                scale,
                args.persons or SCALES[scale]["persons"],
                args.page_views or SCALES[scale]["page_views"],
                work,
                one_page_view_per_session=args.one_page_view_per_session,
            )
            data.with_plain = "plain" in steps
            data.check_plain = not args.skip_plain_check
            report.rows.append(
                Row(
                    scale,
                    "sandbox generator (persons + web events, in memory)",
                    data.persons + data.page_views,
                    data.generate_seconds,
                    (data.persons + data.page_views) / data.generate_seconds,
                    0.0,
                )
            )
            for step in [s for s in steps if s != "plain"]:
                print(f"[bench] {scale}: {step} ...", flush=True)
                rows = STEPS[step](data)
                report.rows.extend(rows)
                for r in rows:
                    print(
                        f"[bench]   {r.step}: {r.seconds:.1f}s, {r.rows_per_s:,.0f} rows/s, "
                        f"{r.peak_rss_mb:,.0f} MB" + (f", {_ratio_cell(r)} {r.baseline}" if r.ratio else "")
                    )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"{stamp}.json").write_text(json.dumps(asdict(report), indent=2))
    md = to_markdown(report)
    (RESULTS / f"{stamp}.md").write_text(md)
    (RESULTS / "latest.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
