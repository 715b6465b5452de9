"""What the CRM loaders (Salesforce, Dynamics 365) share: the run report, start dates, and the CLI run."""

from __future__ import annotations

import argparse
import hashlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from loaders.common.errors import LoaderError, StopWithProgress
from loaders.common.pipeline import finish_pending, kill_mid_load, make_pipeline, run_options
from loaders.common.progress import Progress


@dataclass
class LoadReport:
    """What a run did, for the CLI's summary and its exit code."""

    rows: Counter[str] = field(default_factory=Counter)
    pages: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    # records the API served twice within one query (a page repeating a record): loaded once (merge on id)
    repeated: Counter[str] = field(default_factory=Counter)
    rejected: int = 0
    # a reason to stop early; pages read before it are kept, so the next run resumes after them
    stopped: str | None = None
    failed: LoaderError | None = None

    @property
    def halted(self) -> bool:
        return self.stopped is not None or self.failed is not None


def parse_start_date(value: str | None, setting: str) -> datetime | None:
    """`setting` names the env var in the error, e.g. SOURCES__SALESFORCE__START_DATE."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise LoaderError(f"{setting}={value!r} is not a date (use 2018-01-01)") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def loaded_rows(pipeline: dlt.Pipeline) -> dict[str, int]:
    """Rows written per table by the last run (after dlt dropped what it already had)."""
    trace = pipeline.last_trace
    info = trace.last_normalize_info if trace else None
    return {t: n for t, n in (info.row_counts if info else {}).items() if not t.startswith("_dlt")}


def run_crm_load(
    args: argparse.Namespace,
    name: str,
    title: str,
    make_source: Callable[..., Any],
    overrides: dict[str, Any],
) -> int:
    """Build the source (clear error when config is missing), run it, print the summary, map the report to
    the exit code: 0 done, 2 failed after keeping what was read, 3 clean stop that resumes."""
    progress = Progress(name)
    report = LoadReport()
    pipeline = make_pipeline(name, f"raw_{name}", args.destination, args.pipelines_dir)
    try:
        source = make_source(report=report, progress=progress, **{k: v for k, v in overrides.items() if v})
    except ConfigFieldMissingException as exc:
        names = ", ".join(f"SOURCES__{name.upper()}__{f.upper()}" for f in exc.fields)
        raise LoaderError(f"{title} is not configured: set {names} (env vars or .dlt/secrets.toml)") from None
    progress.say(f"loading {', '.join(source.resources.keys())} into {pipeline.dataset_name}")
    kill_mid_load(pipeline, f"{name}.mid_load")
    try:
        # dlt's run() with data only loads what a killed run left and returns: finish that first
        finish_pending(pipeline, {"_rejected": "_rejected_key"}, progress.say)
        pipeline.run(source, **run_options(pipeline))
    except Exception as exc:
        # dlt wraps what a resource raises; show our own errors as they are
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, LoaderError):
            cause = cause.__cause__ or cause.__context__
        if isinstance(cause, LoaderError):
            raise cause from None
        raise
    summary = ", ".join(f"{table} {n}" for table, n in sorted(loaded_rows(pipeline).items())) or "nothing new"
    deleted = f"; {sum(report.deleted.values())} newly deleted" if report.deleted or name == "dynamics" else ""
    repeated = sum(report.repeated.values())
    progress.say(
        f"done: loaded {summary}{deleted}; {report.rejected} values rejected"
        + (f" (see {pipeline.dataset_name}._rejected)" if report.rejected else "")
        + (
            f"; {repeated} records served twice within a query ("
            + ", ".join(f"{t} {n}" for t, n in sorted(report.repeated.items()))
            + "), each loaded once"
            if repeated
            else ""
        )
    )
    read = sum(report.rows.values())
    # a value that cannot be typed is quarantined, its row loads with the value null: no row is held back
    progress.say(f"rows in = loaded + quarantined: {read:,} = {read:,} + 0 ({report.rejected} values quarantined)")
    if report.failed:
        raise LoaderError(f"{report.failed} What was read before the error is loaded.") from report.failed
    if report.stopped:
        raise StopWithProgress(report.stopped)
    return 0


def note_repeats(seen: set[str], ids: list[str], table: str, report: LoadReport, progress: Progress) -> None:
    """Counts the ids a query already served (a page repeating a record: the API's paging is wrong, or the
    record changed while the query was paged). The merge on the primary key loads each once, the latest."""
    again = [i for i in ids if i in seen]
    seen.update(ids)
    if again:
        if not report.repeated[table]:
            progress.say(f"{table}: the API served record {again[0]} again in a later page; it is loaded once")
        report.repeated[table] += len(again)


def rejected_rows(rows: list[dict], table: str) -> Any:
    """Quarantined values, each row inserted once under a hash of itself: dlt retries a load job that a
    killed run left started, and the job may have committed before the kill (an append would repeat it)."""
    for row in rows:
        row["_rejected_key"] = hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:32]
    hints = dlt.mark.make_hints(
        table_name=table,
        write_disposition={"disposition": "merge", "strategy": "insert-only"},
        primary_key="_rejected_key",
    )
    return dlt.mark.with_hints(rows, hints, create_table_variant=True)
