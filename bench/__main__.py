"""`python -m bench`: measure loaders and dbt at two scales, in one process run, and write the results.

Each step runs in a child process so its peak RSS is its own. Ratios compare our code with DuckDB doing
the same work directly on the same files, measured back to back in this run (the machines are noisy:
compare ratios, not seconds across runs).

  python -m bench                         # both scales (100k/1M and 1M/10M persons/page views)
  python -m bench --scale small           # one scale
  python -m bench --steps marketo         # some steps only
  python -m bench --one-page-view-per-session   # the worst case for sessions (issue 6)

The `plain` step (on by default) runs right after dbt's full build, on the same warehouse: bench/plain.sql,
the same rules hand-written as one plain DuckDB SQL script, timed the same way, then checked against dbt's
marts (python -m bench.plain --check). Its row gives the ratio dbt full build / plain script (issue 6's
"within 1.5x"), and another row the sum of dbt's model execution times (target/run_results.json: models
only, without the data tests) against the same script.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
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


NOTHING_NEW = "dbt build with nothing new"


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
        env.update(
            {
                "SOURCES__MARKETO__BASE_URL": emu.base_url,
                "SOURCES__MARKETO__CLIENT_ID": emu.client_id,
                "SOURCES__MARKETO__CLIENT_SECRET": emu.client_secret,
            }
        )
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
            f"minus {marketo_share:.1f}s of the emulator writing the export (Marketo's side)",
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
            f"{len(list(folder.iterdir()))} files",
        )
    ]


def bench_dbt(sc: Scale) -> list[Row]:
    """`dbt build` from scratch, then one new day of events (about 1%) loaded and built incrementally."""
    import numpy as np

    from sandbox.web_events import write_event_files

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
    full = run_measured(cmd, sc.env)
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
        out += bench_plain(sc, full.seconds, rows)

    # one more day: about 1% of the events again, from returning visitors, after the last event so far
    rng = np.random.default_rng(7)
    last = max(sc.page_view_frame["event_date"].max(), sc.form_frame["event_date"].max())
    day = []
    for frame, prefix in ((sc.page_view_frame, "pv-next-"), (sc.form_frame, "fs-next-")):
        sample = frame.sample(frac=0.01, random_state=7).copy()
        sample["id"] = [f"{prefix}{i}" for i in range(len(sample))]
        offsets = np.sort(rng.integers(1, 86_400_000, len(sample)))
        sample["event_date"] = last + pd_timedelta_ms(offsets)
        day.append(sample)
    write_event_files(day[0], day[1], sc.work / "events", fmt="jsonl", gzip=True)
    run_measured(
        [sys.executable, "-m", "loaders", "web"], {**sc.env, "SOURCES__WEB__BUCKET_URL": str(sc.work / "events")}
    )
    incremental = run_measured(cmd, sc.env)
    new_rows = len(day[0]) + len(day[1])
    breakdown = _dbt_run_breakdown(sc.work / "target" / "run_results.json", incremental.seconds)
    print(f"[bench]   dbt incremental: {breakdown}", flush=True)
    # the same command once more, with nothing new: what any scheduled run costs whatever the data (dbt's
    # start-up and per-node work, and the queries that find there is nothing to do)
    idle = run_measured(cmd, sc.env)
    idle_breakdown = _dbt_run_breakdown(sc.work / "target" / "run_results.json", idle.seconds)
    print(f"[bench]   dbt with nothing new: {idle_breakdown}", flush=True)
    return out + [
        Row(
            sc.name,
            "dbt build, incremental, after one new day (~1% events; models + data tests)",
            new_rows,
            incremental.seconds,
            new_rows / incremental.seconds,
            incremental.peak_rss_mb,
            "the full build above",
            full.seconds,
            incremental.seconds / full.seconds,
            breakdown,
        ),
        Row(
            sc.name,
            f"{NOTHING_NEW}: the same command again (the fixed cost of a run)",
            0,
            idle.seconds,
            0.0,
            idle.peak_rss_mb,
            "the full build above",
            full.seconds,
            idle.seconds / full.seconds,
            idle_breakdown,
        ),
    ]


def bench_plain(sc: Scale, dbt_seconds: float, rows: int) -> list[Row]:
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
    full_results = sc.work / "run_results_full_build.json"  # kept: the incremental build overwrites target/
    shutil.copy(sc.work / "target" / "run_results.json", full_results)
    models = _dbt_model_times(full_results)
    model_seconds = sum(models.values())
    slowest_models = ", ".join(f"{name} {t:.1f}s" for name, t in sorted(models.items(), key=lambda kv: -kv[1])[:5])
    slowest_statements = ", ".join(f"{name} {t:.1f}s" for name, t in sorted(statements, key=lambda kv: -kv[1])[:5])
    print(f"[bench]   dbt slowest models: {slowest_models}", flush=True)
    print(f"[bench]   plain slowest statements: {slowest_statements}", flush=True)
    (sc.work / "plain_timings.txt").write_text(plain.output + "\n" + check.output)
    verdict = {
        True: "matches dbt's marts",
        False: "DIFFERS from dbt's marts (see the bench output)",
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
        ),
        Row(
            sc.name,
            "dbt models only (sum of model execution times, no data tests) vs the plain SQL script",
            rows,
            model_seconds,
            rows / model_seconds,
            0.0,
            "plain SQL script",
            plain.seconds,
            model_seconds / plain.seconds,
            f"from target/run_results.json of the full build (2 dbt threads: models may overlap in time); "
            f"slowest models: {slowest_models}",
        ),
    ]


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


def pd_timedelta_ms(values):
    import pandas as pd

    return pd.to_timedelta(values, unit="ms")


STEPS = {"marketo": bench_marketo, "web": bench_web, "dbt": bench_dbt, "plain": None}  # plain: inside dbt


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
    for pkg in ("dlt", "dbt-core", "dbt-duckdb", "duckdb", "pyarrow", "pandas"):
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
            f"{'' if r.ratio is None else f'{r.ratio:.2f}x'} |"
        )
    notes = [f"- {r.scale} / {r.step}: {r.note}" for r in report.rows if r.note]
    lines += ["", "Goals (issue 6), from the rows above:"] + goals(report.rows)
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def goals(rows: list[Row]) -> list[str]:
    def find(scale: str, prefix: str) -> Row | None:
        return next((r for r in rows if r.scale == scale and r.step.startswith(prefix)), None)

    out = []
    for r in rows:
        if r.step.startswith(("marketo loader", "web loader")) and r.ratio:
            out.append(
                f"- {r.scale} {r.step.split(':')[0]} within 3x of DuckDB: {r.ratio:.2f}x "
                f"{'met' if r.ratio <= 3 else 'MISSED'}"
            )
        if r.step.startswith("dbt build, incremental") and r.ratio:
            idle = find(r.scale, NOTHING_NEW)
            out.append(
                f"- {r.scale} incremental day <= 10% of full build: {r.ratio:.1%} "
                f"{'met' if r.ratio <= 0.10 else 'MISSED'}"
                + (f" (a run with nothing new: {idle.ratio:.1%})" if idle and idle.ratio else "")
            )
        if r.step.startswith("dbt build from scratch vs") and r.ratio:
            out.append(
                f"- {r.scale} dbt full build within 1.5x of plain SQL: {r.ratio:.2f}x "
                f"{'met' if r.ratio <= 1.5 else 'MISSED'}"
                + (" (plain script DIFFERS from dbt: ratio not meaningful)" if "DIFFERS" in r.note else "")
            )
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
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (data, warehouses)")
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
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")

    report = Report(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine(), versions())
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=REPO / "bench"))
    try:
        for scale in SCALES if args.scale == "all" else [args.scale]:
            print(
                f"[bench] {scale}: generating {SCALES[scale]['persons']:,} persons and "
                f"{SCALES[scale]['page_views']:,} page views ...",
                flush=True,
            )
            data = Scale(
                scale,
                SCALES[scale]["persons"],
                SCALES[scale]["page_views"],
                work,
                one_page_view_per_session=args.one_page_view_per_session,
            )
            steps = args.steps.split(",")
            unknown = [s for s in steps if s not in STEPS]
            if unknown:
                parser.error(f"unknown steps {unknown}; use {', '.join(STEPS)}")
            data.with_plain = "plain" in steps
            data.check_plain = not args.skip_plain_check
            if data.with_plain and "dbt" not in steps:
                steps.append("dbt")  # the plain script runs right after dbt's full build, on its warehouse
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
                        f"{r.peak_rss_mb:,.0f} MB" + (f", {r.ratio:.2f}x {r.baseline}" if r.ratio else "")
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
