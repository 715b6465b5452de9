"""`python -m loaders <source> [options]`: land one source's raw data in the warehouse.

Sources register a module `loaders.<source>.cli` with `add_arguments(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import logging
import os
import shlex
import sys

from loaders.common import LoaderError
from warehouse.lock import EXIT_BUSY, WAIT_ENV, WarehouseBusy, WarehouseLock

SOURCES = {
    "marketo": "Marketo persons (bulk lead extract) and deleted persons -> raw_marketo",
    "web": "web page views and form submits from files (local, s3://, gs://, az://) -> raw_web",
    "salesforce": "Salesforce Lead, Contact, Account -> raw_salesforce",
    "dynamics": "Dynamics 365 leads, contacts, accounts -> raw_dynamics",
}


def build_parser(source: str | None = None) -> argparse.ArgumentParser:
    """The command line; with `source`, only that source's module is imported (each pulls in its own
    libraries, e.g. pandas and fsspec for web: seconds of a short run), the others get their help line."""
    parser = argparse.ArgumentParser(
        prog="python -m loaders",
        description="Land one source's raw data in the warehouse (DuckDB by default).",
        epilog="Config comes from env vars (SOURCES__<SOURCE>__<KEY>) or .dlt/config.toml and "
        ".dlt/secrets.toml; the warehouse is the DuckDB file at $DUCKDB_PATH (default: warehouse.duckdb "
        "at the repo root). Exit codes: 0 done, 2 error to fix, 3 clean stop that resumes on the next run, "
        f"{EXIT_BUSY} the warehouse is busy (another loader or dbt holds it; nothing was done: run again later, "
        f"or set {WAIT_ENV} to wait for it).",
    )
    sub = parser.add_subparsers(dest="source", metavar="SOURCE", required=True)
    for name, help_text in SOURCES.items():
        if source is not None and name != source:
            sub.add_parser(name, help=help_text)
            continue
        try:
            module = importlib.import_module(f"loaders.{name}.cli")
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith(f"loaders.{name}"):
                continue
            raise
        p = sub.add_parser(
            name,
            help=help_text,
            description=(module.__doc__ or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument(
            "--destination",
            default=None,
            help="dlt destination: duckdb (default, at $DUCKDB_PATH), postgres (libpq's PG* variables or "
            "DESTINATION__POSTGRES__CREDENTIALS), filesystem (Parquet under $LAKE_PATH, for dbt's spark target), "
            "or any other dlt destination with its own config",
        )
        p.add_argument(
            "--pipelines-dir",
            default=None,
            help="where dlt keeps local pipeline state (default: dlt's, ~/.dlt/pipelines)",
        )
        p.add_argument("-v", "--verbose", action="store_true", help="log HTTP calls (never secrets)")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv[0] if argv and argv[0] in SOURCES else None).parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        with _warehouse_lock(args, argv):
            return args._run(args)
    except WarehouseBusy as exc:
        print(f"busy: {exc}", file=sys.stderr)
        return exc.exit_code
    except LoaderError as exc:
        print(f"error: {_disk_full(exc) or exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:
        full = _disk_full(exc)
        if not full:
            raise
        print(f"error: {full}", file=sys.stderr)
        return LoaderError.exit_code
    except KeyboardInterrupt:
        print("interrupted: progress so far is saved; run the same command again to resume", file=sys.stderr)
        return 130


def _disk_full(exc: BaseException) -> str | None:
    """The message for a run stopped by a full disk (ENOSPC, a file-size or quota limit), found anywhere in
    the exception's chain (dlt and DuckDB wrap it), or None."""
    seen: BaseException | None = exc
    cause = None
    while seen is not None:  # the innermost one says it best
        full = isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
        if full or "No space left on device" in str(seen) or "File too large" in str(seen):
            cause = seen
        seen = seen.__cause__ or seen.__context__
    if cause is None:
        return None
    return (
        f"the disk is full ({cause}). Nothing half-written is kept: free some space (the warehouse, "
        "$LOADERS_PIPELINES_DIR and the temp folder need room) and run the same command again; "
        "it resumes where the last completed step ended."
    )


def _warehouse_lock(args: argparse.Namespace, argv: list[str]) -> contextlib.AbstractContextManager:
    """One writer at a time: the DuckDB warehouse's lock for the whole run (see warehouse/lock.py). Other
    destinations have their own concurrency rules (and the orchestrator runs one writer at a time)."""
    if args.destination not in (None, "duckdb"):
        return contextlib.nullcontext()
    from loaders.common import duckdb_path

    return WarehouseLock(duckdb_path(), command=shlex.join(["python", "-m", "loaders", *argv]))


if __name__ == "__main__":
    sys.exit(main())
