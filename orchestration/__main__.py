"""`python -m orchestration daily|weekly`: the scheduled jobs once, from a shell (`make daily`, cron).

The Dagster schedules (orchestration/definitions.py) run the same jobs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

import yaml

from orchestration.daily import LOADERS, REPO, DailyError, DbtProject, absolute_env_paths, run_daily, run_weekly

EPILOG = """\
daily: every configured loader (`python -m loaders <source>`; a source that is not configured is skipped),
then `dbt source freshness`, then `dbt build` of only what changed since the last successful run: the nodes
downstream of source tables that got new data, and of code, seeds, config or vars that changed (everything
on the first run), with the tests of their unique keys on the rows the run wrote (--tests all: every data
test on them). The state lives in DAILY_STATE_DIR (default: <DUCKDB_PATH>.daily next to the DuckDB file)
and moves on only after a successful build.

weekly: every data test on every row (dbt test with data_tests_scope: all).

Exit codes: 0 done; 1 dbt failed, or a source is past source_freshness_error_after_hours; 2 a loader
failed (its message is printed; dbt did not run); 3 a loader stopped cleanly (quota): what was loaded is
built and the next run resumes.

Env: DUCKDB_PATH, DBT_TARGET (a target of profiles.yml), DAILY_STATE_DIR, DAILY_TESTS, LOADERS_DESTINATION,
DBT_THREADS, and each loader's own settings (SOURCES__<SOURCE>__...; see python -m loaders <source> --help).
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m orchestration",
        description="Run the daily or the weekly job once (what the Dagster schedules run).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs = parser.add_subparsers(dest="job", metavar="JOB", required=True)
    sub_help = {"epilog": EPILOG, "formatter_class": argparse.RawDescriptionHelpFormatter}
    daily = jobs.add_parser("daily", help="loaders, then dbt build of what changed (make daily)", **sub_help)
    daily.add_argument(
        "--sources",
        default=",".join(loader.source for loader in LOADERS),
        help="comma list of loaders to run (default: all; those not configured are skipped anyway); "
        "'none' runs no loader",
    )
    daily.add_argument("--full-build", action="store_true", help="build every node, whatever changed")
    daily.add_argument(
        "--tests",
        choices=["keys", "all"],
        default=None,
        help="data tests on what the run wrote: keys (default, $DAILY_TESTS): the tests of unique keys, the "
        "weekly job runs the others; all: every test",
    )
    weekly = jobs.add_parser("weekly", help="every data test on every row (make weekly)", **sub_help)
    for sub in (daily, weekly):
        sub.add_argument("--target", default=None, help="dbt target of profiles.yml (default: $DBT_TARGET or duckdb)")
        sub.add_argument("--vars", default=None, help="dbt vars as YAML, e.g. '{reporting_timezone: Europe/Paris}'")
        sub.add_argument("--state-dir", default=None, help="where the job keeps its state (default: $DAILY_STATE_DIR)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    state_dir = Path(args.state_dir).resolve() if args.state_dir else None
    absolute_env_paths()
    os.chdir(REPO)
    cli_vars = yaml.safe_load(args.vars) if args.vars else {}
    if not isinstance(cli_vars, dict):
        print(f"error: --vars must be a YAML mapping, got {args.vars!r}", file=sys.stderr)
        return 2
    from warehouse.lock import WarehouseBusy

    try:
        project = DbtProject(state_dir, args.target, cli_vars, getattr(args, "tests", None))
        sources = []
        if args.job == "daily":
            sources = [] if args.sources == "none" else [s.strip() for s in args.sources.split(",") if s.strip()]
            unknown = sorted(set(sources) - {loader.source for loader in LOADERS})
            if unknown:
                print(f"error: unknown loaders {unknown}; use {', '.join(loader.source for loader in LOADERS)}")
                return 2
        # one writer at a time: the job holds the warehouse for the whole run; the loaders it starts go ahead
        # under its lock, and its in-process dbt calls (which cannot hold one themselves) are covered by it
        with hold_warehouse(project.target, f"python -m orchestration {args.job}"):
            if args.job == "weekly":
                return run_weekly(project)
            return run_daily(project, sources, full=args.full_build).exit_code
    except WarehouseBusy as exc:
        print(f"{args.job}: {exc}", file=sys.stderr)
        return exc.exit_code
    except DailyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def hold_warehouse(target: str | None, command: str) -> contextlib.AbstractContextManager:
    """The warehouse lock of the DuckDB target (warehouse/lock.py); other engines serialise their own writes."""
    if (target or "duckdb") != "duckdb":
        return contextlib.nullcontext()
    from loaders.common import duckdb_path
    from warehouse.lock import WarehouseLock

    return WarehouseLock(duckdb_path(), command=command)


if __name__ == "__main__":
    sys.exit(main())
