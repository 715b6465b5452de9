"""Load Dynamics 365 leads, contacts and accounts into raw_dynamics (incremental on modifiedon, merge on id).

Config (env vars or .dlt/config.toml + .dlt/secrets.toml, section [sources.dynamics]):
  SOURCES__DYNAMICS__BASE_URL         org URL, e.g. https://acme.crm4.dynamics.com
  SOURCES__DYNAMICS__TOKEN_URL        https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token
  SOURCES__DYNAMICS__CLIENT_ID        app registration's client id (an application user in the environment)
  SOURCES__DYNAMICS__CLIENT_SECRET    its client secret
  SOURCES__DYNAMICS__SCOPE            default <BASE_URL>/.default
  SOURCES__DYNAMICS__PAGE_SIZE        rows per page, default 5000
  SOURCES__DYNAMICS__ENTITIES         default leads,contacts,accounts
  SOURCES__DYNAMICS__START_DATE       first run only: oldest modifiedon to read (default: everything)
  SOURCES__DYNAMICS__DETECT_DELETES   default true: flag rows whose id Dynamics no longer lists
  SOURCES__DYNAMICS__MAX_RETRY_AFTER  longest 429 Retry-After to wait, seconds (default 300)

Deleted records are kept with is_deleted = true. When Dataverse throttles for longer than MAX_RETRY_AFTER
the run keeps what it read and exits 3; the next run resumes from there.
"""

from __future__ import annotations

import argparse

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from loaders.common import LoaderError, Progress, StopWithProgress, make_pipeline
from loaders.dynamics import LoadReport, dynamics_source


def loaded_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows written per table by the last run (after dlt dropped what it already had)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    return {t: n for t, n in (info.row_counts if info else {}).items() if not t.startswith("_dlt")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--entities", default=None, help="comma-separated entity sets, overrides SOURCES__DYNAMICS__ENTITIES"
    )
    parser.add_argument(
        "--start-date", default=None, help="first run only: oldest modifiedon to read, overrides __START_DATE"
    )


def run(args: argparse.Namespace) -> int:
    progress = Progress("dynamics")
    report = LoadReport()
    overrides = {k: v for k, v in {"entities": args.entities, "start_date": args.start_date}.items() if v}
    pipeline = make_pipeline("dynamics", "raw_dynamics", args.destination, args.pipelines_dir)
    try:
        source = dynamics_source(report=report, progress=progress, **overrides)
    except ConfigFieldMissingException as exc:
        names = ", ".join(f"SOURCES__DYNAMICS__{f.upper()}" for f in exc.fields)
        raise LoaderError(
            f"Dynamics is not configured: set {names} (env vars or .dlt/secrets.toml)"
        ) from None
    progress.say(f"loading {', '.join(source.resources.keys())} into {pipeline.dataset_name}")
    try:
        pipeline.run(source)
    except Exception as exc:
        # dlt wraps what a resource raises; show our own errors as they are
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, LoaderError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, LoaderError):
            raise cause from None
        raise
    loaded = loaded_rows(pipeline)
    summary = ", ".join(f"{table} {n}" for table, n in sorted(loaded.items())) or "nothing new"
    deleted = sum(report.deleted.values())
    progress.say(
        f"done: loaded {summary}; {deleted} newly deleted; {report.rejected} values rejected"
        + (f" (see {pipeline.dataset_name}._rejected)" if report.rejected else "")
    )
    if report.failed:
        raise LoaderError(f"{report.failed} What was read before the error is loaded.") from report.failed
    if report.stopped:
        raise StopWithProgress(report.stopped)
    return 0
