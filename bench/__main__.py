"""`python -m bench`: measure loaders and dbt at two scales, in one process run, and write the results.

Each step runs in a child process so its peak RSS is its own. Ratios compare our code with DuckDB doing
the same work directly on the same files, measured back to back in this run (the machines are noisy:
compare ratios, not seconds across runs).

  python -m bench                         # both scales (100k/1M and 1M/10M persons/page views)
  python -m bench --scale small           # one scale
  python -m bench --steps marketo         # some steps only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path

from bench.measure import PY_SNIPPET_DUCKDB, REPO, run_measured

SCALES = {
    "small": {"persons": 100_000, "page_views": 1_000_000},
    "large": {"persons": 1_000_000, "page_views": 10_000_000},
}
RESULTS = REPO / "bench" / "results"


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


def bench_marketo(scale: str, persons: int, work: Path) -> list[Row]:
    """The Marketo loader from the emulator's bulk file into DuckDB vs DuckDB's read_csv of that file."""
    from sandbox.marketo import MarketoEmulator
    from sandbox.people import generate_leads

    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - timedelta(days=30)  # one 31-day window: one bulk file, comparable with one read_csv
    leads = generate_leads(persons, seed=1, start=start, end=end)
    db = work / f"marketo_{scale}.duckdb"
    env = {
        "DUCKDB_PATH": str(db),
        "LOADERS_PIPELINES_DIR": str(work / f"pipelines_{scale}"),
        "SOURCES__MARKETO__START_DATE": start.isoformat(),
        "SOURCES__MARKETO__POLL_INTERVAL_SECONDS": "0.05",
        "SOURCES__MARKETO__COMPANY_REFRESH_DAYS": "-1",
    }
    emu_dir = work / f"emu_{scale}"
    with MarketoEmulator(leads, [], workdir=emu_dir) as emu:
        env.update(
            {
                "SOURCES__MARKETO__BASE_URL": emu.base_url,
                "SOURCES__MARKETO__CLIENT_ID": emu.client_id,
                "SOURCES__MARKETO__CLIENT_SECRET": emu.client_secret,
            }
        )
        loader = run_measured([sys.executable, "-m", "loaders", "marketo"], env)
        marketo_share = emu.stats.export_write_seconds
    csv_files = sorted(emu_dir.rglob("*.csv"), key=lambda p: p.stat().st_size)
    bulk_file = csv_files[-1]
    sql = (
        f"create table leads as select * from read_csv('{bulk_file}', header=true, nullstr='null', "
        "quote='\"', escape='\"', new_line='\\n', strict_mode=false)"
    )
    duck = run_measured([sys.executable, "-c", PY_SNIPPET_DUCKDB, str(work / f"csv_{scale}.duckdb"), sql])
    duck_seconds = float(duck.output.strip().splitlines()[-1])
    ours = loader.seconds - marketo_share  # the emulator writing the export file is Marketo's time, not ours
    return [
        Row(
            scale,
            "marketo loader: bulk file -> DuckDB (process start, API calls, download, verify, parse, type, merge)",
            persons,
            ours,
            persons / ours,
            loader.peak_rss_mb,
            "DuckDB read_csv of the same bulk file",
            duck_seconds,
            ours / duck_seconds,
            f"bulk file {bulk_file.stat().st_size / 1e6:.0f} MB; wall time {loader.seconds:.1f}s includes "
            f"{marketo_share:.1f}s of the emulator writing the export (Marketo's side), excluded above",
        )
    ]


STEPS = {"marketo": bench_marketo}


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
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=[*SCALES, "all"], default="all")
    parser.add_argument("--steps", default=",".join(STEPS), help=f"comma list of {', '.join(STEPS)}")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (data, warehouses)")
    args = parser.parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")

    report = Report(datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), machine(), versions())
    work = Path(tempfile.mkdtemp(prefix="bench-", dir=REPO / "bench"))
    try:
        for scale in SCALES if args.scale == "all" else [args.scale]:
            for step in args.steps.split(","):
                print(f"[bench] {scale}: {step} ...", flush=True)
                rows = (
                    STEPS[step](scale, SCALES[scale]["persons"], work)
                    if step == "marketo"
                    else STEPS[step](scale, SCALES[scale], work)
                )
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
