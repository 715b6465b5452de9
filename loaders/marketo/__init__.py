"""Marketo persons -> raw_marketo: `python -m loaders marketo`.

Lands `raw_marketo.leads` (one row per person, merged on id, latest updatedAt wins),
`raw_marketo.deleted_leads` (one row per delete activity), `raw_marketo.lead_company_fields` (B9: company
fields re-read on a cadence, because Marketo does not bump updatedAt when they change),
`raw_marketo.leads_rejected` (rows whose values did not fit their type: quarantined, never dropped) and
`raw_marketo.complete_exports` (one row per pass of createdAt windows that exported every window of its range:
dbt compares the persons it read with the landed ones to find deletes older than Marketo keeps its delete
activities). Salesforce ids in the sfdc* fields land in their 18-character form.

Settings (env var, or the key under [sources.marketo] in .dlt/config.toml / .dlt/secrets.toml):
  SOURCES__MARKETO__BASE_URL               REST endpoint, e.g. https://123-ABC-456.mktorest.com (required)
  SOURCES__MARKETO__CLIENT_ID              LaunchPoint client id (secret, required)
  SOURCES__MARKETO__CLIENT_SECRET          LaunchPoint client secret (secret, required)
  SOURCES__MARKETO__START_DATE             first import reaches back to here, e.g. 2018-01-01 (B2);
                                           default: ROLLING_WINDOW_DAYS back from today
  SOURCES__MARKETO__ROLLING_WINDOW_DAYS    730: full and company refreshes cover this many days back
  SOURCES__MARKETO__WINDOW_DAYS            31: days per bulk export job (Marketo allows at most 31)
  SOURCES__MARKETO__LOOKBACK_MINUTES       60: each incremental run re-reads this much before the last end
  SOURCES__MARKETO__FILTER_FIELD           updatedAt (default) or createdAt; switches itself to createdAt on 1035
  SOURCES__MARKETO__EXTRA_FIELDS           comma list of REST field names to land besides the B7 and CRM-id
                                           fields (default firstName,lastName,leadSource,title,country; * = all)
  SOURCES__MARKETO__COMPANY_FIELDS         fields re-read by the B9 company refresh (company,website,...)
  SOURCES__MARKETO__COMPANY_REFRESH_DAYS   7: re-read company fields of everyone this often (0 = every run)
  SOURCES__MARKETO__FULL_REFRESH_DAYS      7: with createdAt windows only, re-export everyone this often
  SOURCES__MARKETO__POLL_INTERVAL_SECONDS  60: export job status polling interval (Marketo updates a job's
                                           status at most once a minute)
  SOURCES__MARKETO__JOB_TIMEOUT_SECONDS    10800: give up waiting on a job (its id is kept for the next run)
  SOURCES__MARKETO__DELETES_LOOKBACK_DAYS  30: the first run reads delete activities from this many days back
                                           (Marketo prunes them after about 14 days; older deletes are found by
                                           comparing a complete re-export with the landed persons)
  SOURCES__MARKETO__MAX_CALLS_PER_20S      100: client-side call budget (Marketo's limit is 100 / 20 s)
  SOURCES__MARKETO__MAX_CONCURRENT_CALLS   10
  SOURCES__MARKETO__RATE_WINDOW_SECONDS    20: the window MAX_CALLS_PER_20S counts in
  SOURCES__MARKETO__RETRY_ATTEMPTS         8, SOURCES__MARKETO__BACKOFF_BASE_SECONDS 1.0
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

import dlt
import numpy as np
import pyarrow as pa
from dlt.destinations.exceptions import DatabaseUndefinedRelation

from loaders.common import LoaderError, Progress, RateBudget, StopWithProgress, run_options
from loaders.common.pipeline import finish_pending, kill_mid_load
from loaders.common.progress import human_bytes
from loaders.common.salesforce_ids import salesforce_ids_18
from loaders.marketo.bulk import (
    ExportJob,
    JobOptions,
    RepeatFilter,
    Window,
    arrow_types,
    read_csv_batches,
    type_batch,
)
from loaders.marketo.client import MarketoApiError, MarketoClient, RetryPolicy, UnsupportedFilter
from loaders.marketo.settings import CRM_ID_FIELDS, REQUIRED_FIELDS, SALESFORCE_ID_FIELDS, MarketoSettings
from warehouse.faults import fault_point

log = logging.getLogger(__name__)

LEADS_HINTS: dict[str, Any] = {
    "primary_key": "id",
    "write_disposition": {"disposition": "merge", "strategy": "delete-insert"},
    # a person can appear in two windows (inclusive ends, DST overlaps): keep the latest version
    "columns": {"updated_at": {"dedup_sort": "desc"}},
}


INSERT_ONLY: dict[str, str] = {"disposition": "merge", "strategy": "insert-only"}
# the tables written insert-only, with their keys (a load retried after a kill is checked for repeats)
INSERTED_ONCE: dict[str, str | list[str]] = {
    "leads": "id",
    "leads_rejected": "_rejected_key",
    "complete_exports": ["export", "created_from", "created_to", "read_from"],
}

# One row per pass of createdAt windows that exported every window of its range (raw_marketo.complete_exports)
COMPLETE_EXPORTS_COLUMNS: dict[str, Any] = {
    "export": {"data_type": "text", "nullable": False},
    "landed_in": {"data_type": "text", "nullable": False},
    "created_from": {"data_type": "timestamp", "nullable": False},
    "created_to": {"data_type": "timestamp", "nullable": False},
    "read_from": {"data_type": "timestamp", "nullable": False},
    "completed_at": {"data_type": "timestamp", "nullable": False},
}


def iso(ts: datetime) -> str:
    """Marketo wants ISO-8601 without milliseconds."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def split_windows(start: datetime, end: datetime, days: int) -> list[Window]:
    """Consecutive windows of at most `days`, inclusive at both ends (the boundary second is read twice,
    so nothing falls between two windows; the merge on id absorbs the repeat)."""
    windows, cursor = [], start
    while cursor < end:
        stop = min(cursor + timedelta(days=days), end)
        windows.append(Window(iso(cursor), iso(stop)))
        cursor = stop
    return windows


@dlt.source(name="marketo", max_table_nesting=0)
def marketo_commit(
    state: dict | Callable[[], dict],
    tables: dict[str, Iterable[Any]] | None = None,
    insert_only: Collection[str] = (),
) -> Any:
    """What one step of the load commits: its rows (per table) and the loader's state, atomically.

    The driver below decides what to fetch; this source only hands rows to dlt and writes the state, so
    a run killed between two steps resumes from the last committed step. A callable `state` is called once
    the rows are read (reading them can change what the step commits). Tables in `insert_only` get the rows
    whose id they do not hold yet, without dlt's delete and dedup pass (the first rows into an empty table).

    Every write is idempotent: dlt retries a load job that a killed run left started, and the job may have
    committed before the kill, so a plain append could land its rows twice.
    """

    def _state_writer(items: Iterable[Any]) -> Iterator[Any]:
        yield from items
        current = dlt.current.source_state()
        current.clear()
        current.update(copy.deepcopy(state() if callable(state) else state))

    resources = []
    for name, items in (tables or {}).items():
        hints = LEADS_HINTS if name in ("leads", "lead_company_fields") else {}
        if name == "deleted_leads":
            hints = {"primary_key": "id", "write_disposition": "merge"}
        if name == "complete_exports":
            hints = {
                "write_disposition": INSERT_ONLY,
                "primary_key": INSERTED_ONCE["complete_exports"],
                "columns": COMPLETE_EXPORTS_COLUMNS,
            }
        if name in insert_only:
            hints = {"primary_key": "id", "write_disposition": INSERT_ONLY}
        resources.append(dlt.resource(_state_writer(items), name=name, **hints))
    if not resources:
        resources.append(dlt.resource(_state_writer([]), name="leads", **LEADS_HINTS))
    return resources


# downloaded windows are committed together until they hold this many records or this long has passed since
# the last commit (a real instance takes a minute or more per export job, so there each window commits alone)
COMMIT_EVERY_RECORDS = 200_000
COMMIT_EVERY_SECONDS = 60.0
_SAVE_STATE, _DONE = object(), object()  # what the export thread tells the committing one, besides windows


@dataclass
class _Fetched:
    """A window whose export file is downloaded and checked, not yet committed."""

    index: int
    window: Window
    job: ExportJob
    path: Path
    describe: str
    read_at: str
    size: int = 0
    counts: dict = field(default_factory=lambda: {"rows": 0, "rejected": 0})

    @property
    def expected(self) -> int:
        return int(self.job.status.get("numberOfRecords") or 0)


@dataclass
class Totals:
    rows: int = 0
    rejected: int = 0
    bytes: int = 0
    deleted: int = 0
    windows_done: int = 0
    windows_total: int = 0
    by_table: dict[str, int] = field(default_factory=dict)


class MarketoLoad:
    """Drives one `python -m loaders marketo` run: passes of bulk-export windows, then deletes."""

    def __init__(
        self,
        pipeline: dlt.Pipeline,
        settings: MarketoSettings,
        progress: Progress | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.settings = settings
        self.progress = progress or Progress("marketo")
        self.workdir = workdir or Path(pipeline.working_dir) / "exports"
        self.client = MarketoClient(
            settings.base_url,
            settings.client_id,
            settings.client_secret,
            budget=RateBudget(settings.max_calls_per_20s, settings.rate_window_seconds, settings.max_concurrent_calls),
            retry=RetryPolicy(attempts=settings.retry_attempts, base_seconds=settings.backoff_base_seconds),
        )
        self.job_options = JobOptions(
            poll_interval=settings.poll_interval_seconds, job_timeout=settings.job_timeout_seconds
        )
        self.totals = Totals()
        self._state_lock = threading.Lock()  # the export thread adds job ids while a commit reads the state
        self.has_rows: dict[str, bool] = {}
        self.now = datetime.now(UTC).replace(microsecond=0)
        # run() without data: the state from the warehouse when the local working dir is new (dlt syncs once
        # per pipeline object, so the commits below do not ask again), then the load of a commit a stopped
        # run extracted but did not load (a later run() would load that instead of the rows it was given)
        if not finish_pending(pipeline, INSERTED_ONCE, self.progress.say):
            pipeline.run(**run_options(pipeline))
        self.state: dict = copy.deepcopy(pipeline.state.get("sources", {}).get("marketo", {}))

    # ---------------------------------------------------------------- plan
    def run(self) -> Totals:
        describe = self.client.describe_leads()
        self.types = arrow_types(describe)
        available = {name for name in self.types}
        missing = [f for f in ("id", "email", "createdAt", "updatedAt") if f not in available]
        if missing:
            raise LoaderError(f"Marketo's leads/describe.json lacks {missing}; is base_url a Marketo instance?")
        wanted = (
            REQUIRED_FIELDS
            + CRM_ID_FIELDS
            + (sorted(available) if self.settings.extra_fields == ["*"] else self.settings.extra_fields)
        )
        self.fields = [f for f in dict.fromkeys(wanted) if f in available]
        absent = [f for f in REQUIRED_FIELDS + CRM_ID_FIELDS[:4] if f not in available]
        if absent:
            self.progress.say(f"note: this instance has no field(s) {', '.join(absent)}; they land as null")
        company_fields = ["id", "updatedAt"] + [f for f in self.settings.company_fields if f in available]

        filter_field = self.state.get("filter_field", self.settings.filter_field)
        self.state["filter_field"] = filter_field
        first_start = self.settings.start_date
        first_import = not self.state.get("passes", {}).get("leads", {}).get("last_completed")
        try:
            self.run_pass("leads", filter_field, self.fields, "leads", first_start)
        except UnsupportedFilter as exc:
            self.progress.say(
                f"this subscription refuses updatedAt filters ({exc.code}: {exc.api_message}); switching to "
                f"createdAt windows for new persons plus a full refresh every {self.settings.full_refresh_days:g} "
                "days for updates (set SOURCES__MARKETO__FILTER_FIELD=createdAt to skip this check)"
            )
            self.state["filter_field"] = "createdAt"
            self.state.setdefault("passes", {}).pop("leads", None)
            self.state["passes"].pop("full", None)
            self.run_pass("leads", "createdAt", self.fields, "leads", first_start)

        if first_import:
            # the first import read every field of everyone: the refreshes start counting from now
            for name in ("full", "company"):
                self.state["passes"].setdefault(name, {})["last_completed"] = iso(self.now)
        if self.state["filter_field"] == "createdAt" and self._due("full", self.settings.full_refresh_days):
            self.run_pass("full", "createdAt", self.fields, "leads", self.settings.rolling_start(self.now), repeat=True)
        if len(company_fields) > 2 and self._due("company", self.settings.company_refresh_days):
            self.run_pass(
                "company",
                "createdAt",
                company_fields,
                "lead_company_fields",
                self.settings.rolling_start(self.now),
                repeat=True,
            )
        self.load_deletes()
        return self.totals

    def _due(self, name: str, every_days: float) -> bool:
        p = self.state.get("passes", {}).get(name, {})
        if p.get("end"):  # a refresh that a killed run left half done
            return True
        last = p.get("last_completed")
        if every_days < 0:
            return False
        return last is None or datetime.fromisoformat(last.replace("Z", "+00:00")) <= self.now - timedelta(
            days=every_days
        )

    # ---------------------------------------------------------------- windows
    def run_pass(
        self, name: str, filter_field: str, fields: list[str], table: str, first_start: datetime, repeat: bool = False
    ) -> None:
        """Export every window of the pass in order; each window's rows and the advanced cursor are one
        commit. `repeat` passes (refreshes) start from `first_start` each time; the incremental pass
        starts where the previous one ended. A pass of createdAt windows that exported every window of its
        range, each file whole, is recorded in `complete_exports` (see `_record_complete_export`)."""
        passes = self.state.setdefault("passes", {})
        p = passes.setdefault(name, {})
        if not p.get("end"):
            if repeat or not p.get("last_completed"):
                start = first_start
            else:
                # Marketo can show an update a little after its updatedAt: re-read a margin (merge absorbs it)
                last = datetime.fromisoformat(p["last_completed"].replace("Z", "+00:00"))
                start = max(first_start, last - timedelta(minutes=self.settings.lookback_minutes))
            p.update(start=iso(start), cursor=iso(start), end=iso(self.now), jobs={})
            p.pop("read_from", None)
            p.pop("gaps", None)
        start = datetime.fromisoformat(p["cursor"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(p["end"].replace("Z", "+00:00"))
        windows = split_windows(start, end, self.settings.window_days)
        self.totals.windows_total += len(windows)
        label = {"leads": f"persons by {filter_field}", "full": "full refresh", "company": "company fields (B9)"}[name]
        if windows:
            self.progress.say(f"{label}: {len(windows)} window(s) {windows[0].start} .. {windows[-1].end}")
        if not windows:
            return
        # the first import into an empty table is inserted only, batch after batch: one filter of the pass's
        # persons holds back the rows of a person already inserted, and merges the newer of them
        repeats = None if self._has_rows(table) else RepeatFilter()
        fetched: queue.Queue = queue.Queue()
        stop = threading.Event()

        def fetch() -> None:
            """Export jobs and downloads, in window order, ahead of the commits (its own thread: Marketo works
            on the next jobs and the files come down while the rows of the last ones load). It keeps at most
            two jobs of the pass ahead (Marketo processes two at once) and makes one call at a time."""
            try:
                for i, window in enumerate(windows):
                    if stop.is_set():
                        return
                    with self._state_lock:
                        job = self._job(p, window, filter_field, fields)
                        if i + 1 < len(windows):  # keep Marketo's second processing slot busy
                            self._job(p, windows[i + 1], filter_field, fields)
                        dirty = p.pop("_dirty", False)
                    if dirty:
                        fetched.put(_SAVE_STATE)  # new job ids: saved by the committing thread, which owns dlt
                    describe = f"{label} {window.start}..{window.end}"
                    job.wait(describe)
                    path = self.workdir / f"{job.export_id}.csv"
                    size, _ = job.download(path)
                    read_at = iso(
                        _parse_iso(job.status.get("startedAt") or job.status.get("createdAt") or iso(self.now))
                    )
                    fetched.put(_Fetched(i, window, job, path, describe, read_at, size))
                fetched.put(_DONE)
            except BaseException as exc:  # handed to the committing thread, which raises it
                fetched.put(exc)

        fetcher = threading.Thread(target=fetch, name=f"marketo-{name}-exports", daemon=True)
        fetcher.start()
        batch: list[_Fetched] = []
        since_commit = time.monotonic()
        done, failed = False, None
        try:
            while not done:
                items = [fetched.get()]
                while not fetched.empty():  # everything downloaded by now goes into the same commit
                    items.append(fetched.get())
                for item in items:
                    if item is _SAVE_STATE:
                        self.save_local_state()
                    elif item is _DONE:
                        done = True
                    elif isinstance(item, BaseException):
                        done, failed = True, item
                    else:
                        self.totals.bytes += item.size
                        batch.append(item)
                if batch and (
                    done
                    or sum(f.expected for f in batch) >= COMMIT_EVERY_RECORDS
                    or time.monotonic() - since_commit >= COMMIT_EVERY_SECONDS
                ):
                    ready, batch = batch, []
                    self._commit_windows(name, filter_field, table, p, ready, len(windows), label, repeats)
                    since_commit = time.monotonic()
        finally:
            stop.set()
        if failed is not None:
            # a clean stop (quota, queue, timeout) or a failed export or download: the files downloaded and
            # checked before it are committed above, so the next run neither exports nor downloads them again
            raise failed

    def _commit_windows(
        self,
        name: str,
        filter_field: str,
        table: str,
        p: dict,
        batch: list[_Fetched],
        n_windows: int,
        label: str,
        repeats: RepeatFilter | None,
    ) -> None:
        """Consecutive downloaded windows of a pass, their rows and the cursor moved past the last of them, in
        one commit (dlt's fixed cost per load is paid once for all of them, not per 31-day window). Until
        then the state saved between windows keeps the cursor where the last commit left it: a killed run
        re-reads the batch, with the export jobs saved for it."""
        with self._state_lock:
            undone = copy.deepcopy(self.state)
            for f in batch:
                p["cursor"] = f.window.end
                p["jobs"].pop(f.window.key, None)
                p["read_from"] = min(p.get("read_from") or f.read_at, f.read_at)
            last = batch[-1].index == n_windows - 1
            if last:
                p["last_completed"] = p.pop("end")
                p["jobs"] = {}
        self._commit_files(table, p, batch, undone, repeats)
        self.has_rows[table] = self.has_rows[table] or any(f.counts["rows"] > 0 for f in batch)
        for f in batch:
            if f.counts["rows"] + f.counts["rejected"] != f.expected:
                raise LoaderError(
                    f"export {f.job.export_id} ({f.describe}): Marketo said {f.expected} records but the file "
                    f"held {f.counts['rows'] + f.counts['rejected']}; the rows are loaded, please report this"
                )
        if last and filter_field == "createdAt":
            self._record_complete_export(name, table, p)
        for f in batch:
            f.path.unlink(missing_ok=True)
            self.totals.rows += f.counts["rows"]
            self.totals.rejected += f.counts["rejected"]
            self.totals.by_table[table] = self.totals.by_table.get(table, 0) + f.counts["rows"]
            self.totals.windows_done += 1
        fault_point("marketo.between_windows")
        self.progress.tick(
            f"{label}: window {batch[-1].index + 1}/{n_windows} done"
            + (f" ({len(batch)} in one commit)" if len(batch) > 1 else "")
            + f", {self.totals.rows:,} rows ({self.totals.rejected} rejected), {human_bytes(self.totals.bytes)}, "
            f"{self.client.budget.calls_made} API calls",
            force=last,
        )

    def _job(self, p: dict, window: Window, filter_field: str, fields: list[str]) -> ExportJob:
        """The export job for a window: the saved one if Marketo still has it and it has not failed,
        else a new one, created and enqueued."""
        export_id = p["jobs"].get(window.key)
        if export_id:
            job = ExportJob(self.client, export_id, self.job_options)
            try:
                state = job.refresh().get("status")
            except MarketoApiError as exc:  # expired (7 days) or unknown to Marketo: make a new one
                log.info("saved export %s is gone (%s)", export_id, exc)
                state = None
            if state in ("Created", "Queued", "Processing", "Completed"):
                if state == "Created":
                    job.enqueue()
                return job
        job = ExportJob.create(self.client, fields, filter_field, window, self.job_options)
        job.enqueue()
        p["jobs"][window.key] = job.export_id
        p["_dirty"] = True
        return job

    def _rows(
        self,
        path: Path,
        export_id: str,
        window: Window,
        counts: dict,
        read_at_iso: str,
        repeats: RepeatFilter | None = None,
    ) -> Iterator[Any]:
        """Typed Arrow tables of the file (each person's first row only, with `repeats`), then its quarantined
        rows (to leads_rejected, inserted once by `_rejected_key`: a hash of the row and its export)."""
        rejected: list[pa.Table] = []
        read_at = np.datetime64(read_at_iso.rstrip("Z"), "us")

        def stamped(table: pa.Table) -> pa.Table:
            # when Marketo produced this snapshot: dbt compares it with the B9 company re-reads, and with the
            # complete exports' read_from (a person read since was not deleted before)
            stamps = pa.array(np.full(table.num_rows, read_at), pa.timestamp("us", "UTC"))
            return table.append_column("_read_at", stamps)

        unreadable: list[dict] = []
        for batch in read_csv_batches(path, rejects=unreadable):
            good, bad = type_batch(batch, self.types)
            counts["rows"] += good.num_rows
            if bad is not None:
                counts["rejected"] += bad.num_rows
                bad = bad.append_column("_export_id", pa.array([export_id] * bad.num_rows)).append_column(
                    "_window", pa.array([window.key] * bad.num_rows)
                )
                rejected.append(stamped(bad))
                for row in bad.select(["id", "_rejected_reason"]).to_pylist()[:20]:
                    self.progress.say(f"quarantined person id={row['id']}: {row['_rejected_reason']}")
            if good.num_rows:
                for name in SALESFORCE_ID_FIELDS:
                    if name in good.column_names:
                        good = good.set_column(
                            good.column_names.index(name), name, salesforce_ids_18(good.column(name))
                        )
                good = stamped(good)
                yield good if repeats is None else repeats.first(good)
        if unreadable:
            # records the CSV parser could not read: their line and text, as the file held them
            counts["rejected"] += len(unreadable)
            bad = pa.table(
                {
                    "id": pa.array([r["id"] for r in unreadable], pa.string()),
                    "_rejected_reason": pa.array([r["reason"] for r in unreadable], pa.string()),
                    "_line": pa.array([r["line"] for r in unreadable], pa.int64()),
                    "_raw": pa.array([r["raw"] for r in unreadable], pa.string()),
                    "_export_id": pa.array([export_id] * len(unreadable), pa.string()),
                    "_window": pa.array([window.key] * len(unreadable), pa.string()),
                }
            )
            rejected.append(stamped(bad))
            for row in unreadable[:20]:
                self.progress.say(f"quarantined unreadable record: {row['reason']}")
        for bad in rejected:
            yield dlt.mark.with_hints(
                _with_rejected_key(bad),
                dlt.mark.make_hints(
                    table_name="leads_rejected", write_disposition=INSERT_ONLY, primary_key="_rejected_key"
                ),
                create_table_variant=True,
            )

    def _has_rows(self, table: str) -> bool:
        """Whether the warehouse holds rows of `table` yet (windows merge into it) or not (insert-only)."""
        if table not in self.has_rows:
            try:
                with self.pipeline.sql_client() as client:
                    found = client.execute_sql(f"select 1 from {client.make_qualified_table_name(table)} limit 1")
                self.has_rows[table] = bool(found)
            except DatabaseUndefinedRelation:
                self.has_rows[table] = False
            except Exception as exc:  # a destination without SQL access: merging is right for any table
                log.info("cannot tell whether %s holds rows (%s); merging", table, exc)
                self.has_rows[table] = True
        return self.has_rows[table]

    def _record_complete_export(self, name: str, table: str, p: dict) -> None:
        """One row in `complete_exports` for a pass of createdAt windows that exported every window of
        [start, end], each file whole (rows + quarantined = numberOfRecords): every person Marketo had with a
        createdAt in that range was read, at `read_from` or later (the earliest job start of the pass, Marketo's
        clock). A landed person of that range whose latest read is older was deleted since: dbt flags it.
        A pass stopped or failed part way, or with a short file, writes no row, so it never flags anyone."""
        if p.get("gaps") or not p.get("start") or not p.get("read_from"):
            self.progress.say(
                f"{name}: this pass cannot show which persons are gone (a short file, or begun by an "
                "older version of the loader); the next complete one will"
            )
            return
        row = {
            "export": name,
            "landed_in": table,
            "created_from": _parse_iso(p["start"]),
            "created_to": _parse_iso(p["last_completed"]),
            "read_from": _parse_iso(p["read_from"]),
            "completed_at": datetime.now(UTC).replace(microsecond=0),
        }
        self.commit({"complete_exports": [row]})

    def _commit_files(
        self, table: str, p: dict, batch: list[_Fetched], undone: dict, repeats: RepeatFilter | None
    ) -> None:
        """Downloaded windows' rows and the state that marks them done, in one commit.

        With `repeats` (the pass began on an empty table) the rows are inserted only (no delete, no dedup
        pass): a person the pass's files hold twice (a window's boundary second, Marketo listing them twice) is
        inserted once, and the repeats newer than that row follow in a merge; it is that second commit which
        marks the windows done (a run stopped between the two re-reads them, then by merge). A file short of its
        numberOfRecords marks the pass as having gaps, in the same commit.
        """

        def checked(state: dict) -> dict:
            # a file short of its record count: this pass can no longer tell who is gone from Marketo
            if any(f.counts["rows"] + f.counts["rejected"] != f.expected for f in batch):
                p["gaps"] = True
            return state

        rows = chain.from_iterable(
            self._rows(f.path, f.job.export_id, f.window, f.counts, f.read_at, repeats) for f in batch
        )
        if repeats is None:
            self.commit({table: rows}, state=lambda: checked(self.state))
            return
        self.commit({table: rows}, insert_only=(table,), state=lambda: checked(undone if repeats.held else self.state))
        if repeats.held:
            newer = repeats.newer()
            repeats.held = []
            self.commit({table: [newer] if newer.num_rows else []})

    # ---------------------------------------------------------------- deletes
    def load_deletes(self, pages_per_commit: int = 50, seconds_per_commit: float = 60.0) -> None:
        """Delete activities from the saved paging token on, following nextPageToken until moreResult is false.

        Marketo scans its activity log in blocks: a block without deletes answers an empty page whose token has
        moved on, a block with a few answers a short page, and only `moreResult: false` ends the feed. The
        token is saved as it advances, empty pages included, so the next run starts where this one stopped
        instead of rescanning weeks of empty blocks: committed with the rows read up to it (every
        `pages_per_commit` pages or `seconds_per_commit`, at a clean stop, at the end), or, when no rows are
        pending, written to the local pipeline state (a file write, not a load). A killed run re-reads at
        most what followed its last save; repeats merge away on activity id.
        """
        deleted = self.state.setdefault("deleted", {})
        token = deleted.get("page_token") or self.client.paging_token(iso(self.settings.deletes_start(self.now)))
        rows: list[dict] = []
        pages, saved_at = 0, time.monotonic()

        def save() -> None:
            nonlocal rows, saved_at
            deleted["page_token"] = token
            if rows:
                self.commit({"deleted_leads": [rows]})
                self.totals.deleted += len(rows)
                rows = []
            else:
                self.save_local_state()
            saved_at = time.monotonic()

        try:
            more = True
            while more:
                page, next_token, more = self.client.deleted_leads(token)
                if more and not page and next_token == token:
                    raise LoaderError(
                        "Marketo's delete feed (activities/deletedleads.json) answered an empty page without moving "
                        "its nextPageToken; stopping rather than asking forever. Run again later."
                    )
                rows.extend(_delete_row(item) for item in page)
                token = next_token
                pages += 1
                if pages % pages_per_commit == 0 or time.monotonic() - saved_at >= seconds_per_commit:
                    save()
                    self.progress.tick(f"deleted persons: {pages} pages of the activity log scanned")
        except StopWithProgress:
            save()  # a quota stop keeps what was read and where it got to
            raise
        save()
        self.progress.say(f"deleted persons: {self.totals.deleted} delete activities read ({pages} pages)")

    # ---------------------------------------------------------------- commit
    def commit(
        self,
        tables: dict[str, Iterable[Any]],
        insert_only: Collection[str] = (),
        state: dict | Callable[[], dict] | None = None,
    ) -> None:
        kill_mid_load(self.pipeline, "marketo.mid_load")
        given = self.state if state is None else state

        def snapshot() -> dict:
            with self._state_lock:
                return copy.deepcopy(given() if callable(given) else given)

        self.pipeline.run(marketo_commit(snapshot, tables, insert_only), **run_options(self.pipeline))

    def save_local_state(self) -> None:
        """Saves the state (new export job ids before the long wait, the delete feed's token) in dlt's local
        pipeline state: a killed run re-attaches to the same jobs and resumes the feed. A file write, not a
        load: the warehouse gets it with the next commit (the local state is newer, so sync_destination keeps
        it)."""
        with self._state_lock:
            current = copy.deepcopy(self.state)
        with self.pipeline.managed_state() as state:
            state.setdefault("sources", {})["marketo"] = current


def _with_rejected_key(table: pa.Table) -> pa.Table:
    """A quarantined row's key: its export, window and values, hashed (the same row read again is the same
    row; `_read_at` aside, which the same export gives alike)."""
    keyed = table.drop_columns([c for c in ("_read_at",) if c in table.column_names])
    keys = [
        hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:32]
        for row in keyed.to_pylist()
    ]
    return table.append_column("_rejected_key", pa.array(keys, pa.string()))


def _parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _delete_row(item: dict) -> dict:
    return {
        "id": item.get("id"),
        "marketo_guid": item.get("marketoGUID"),
        "lead_id": item.get("leadId"),
        "activity_date": datetime.fromisoformat(str(item["activityDate"]).replace("Z", "+00:00")),
        "activity_type_id": item.get("activityTypeId"),
        "primary_attribute_value": item.get("primaryAttributeValue"),
    }


def run_load(pipeline: dlt.Pipeline, settings: MarketoSettings, progress: Progress | None = None) -> Totals:
    start = time.monotonic()
    load = MarketoLoad(pipeline, settings, progress)
    totals = load.run()
    log.info("marketo load took %.1fs", time.monotonic() - start)
    return totals


__all__ = ["MarketoLoad", "marketo_commit", "run_load", "split_windows"]
