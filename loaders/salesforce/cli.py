"""Load Salesforce Lead, Contact and Account into raw_salesforce (incremental on SystemModstamp, merge on Id).

Config (env vars or .dlt/config.toml + .dlt/secrets.toml, section [sources.salesforce]):
  SOURCES__SALESFORCE__BASE_URL       login or My Domain URL, e.g. https://acme.my.salesforce.com
  SOURCES__SALESFORCE__CLIENT_ID      connected app consumer key (client-credentials flow)
  SOURCES__SALESFORCE__CLIENT_SECRET  connected app consumer secret
  SOURCES__SALESFORCE__API_VERSION    default v61.0
  SOURCES__SALESFORCE__OBJECTS        default Lead,Contact,Account
  SOURCES__SALESFORCE__CUSTOM_FIELDS  true to load custom fields too (default false)
  SOURCES__SALESFORCE__START_DATE     first run only: oldest SystemModstamp to read (default: everything)

Deleted records (recycle bin) arrive through queryAll with is_deleted = true and are kept. When the daily
API request limit runs out the run keeps what it read and exits 3; the next run resumes from there.
"""

from __future__ import annotations

import argparse

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from loaders.common import LoaderError, Progress, StopWithProgress, make_pipeline
from loaders.salesforce import LoadReport, salesforce_source


def loaded_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows written per table by the last run (after dlt dropped what it already had)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    return {t: n for t, n in (info.row_counts if info else {}).items() if not t.startswith("_dlt")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--objects", default=None, help="comma-separated objects, overrides SOURCES__SALESFORCE__OBJECTS"
    )
    parser.add_argument(
        "--start-date",
        default=None,
        help="first run only: oldest SystemModstamp to read, overrides __START_DATE",
    )


def run(args: argparse.Namespace) -> int:
    progress = Progress("salesforce")
    report = LoadReport()
    overrides = {k: v for k, v in {"objects": args.objects, "start_date": args.start_date}.items() if v}
    pipeline = make_pipeline("salesforce", "raw_salesforce", args.destination, args.pipelines_dir)
    try:
        source = salesforce_source(report=report, progress=progress, **overrides)
    except ConfigFieldMissingException as exc:
        names = ", ".join(f"SOURCES__SALESFORCE__{f.upper()}" for f in exc.fields)
        raise LoaderError(
            f"Salesforce is not configured: set {names} (env vars or .dlt/secrets.toml)"
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
    progress.say(
        f"done: loaded {summary}; {report.rejected} values rejected"
        + (f" (see {pipeline.dataset_name}._rejected)" if report.rejected else "")
    )
    if report.failed:
        raise LoaderError(f"{report.failed} What was read before the error is loaded.") from report.failed
    if report.stopped:
        raise StopWithProgress(report.stopped)
    return 0
