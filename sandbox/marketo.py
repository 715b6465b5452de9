"""A wire-compatible Marketo REST + Bulk Lead Extract emulator on 127.0.0.1.

It speaks what the loader uses, the way Marketo does, oddities included: OAuth client credentials, the JSON
envelope (HTTP 200 with `success:false` and string error codes; an unknown path is error 610),
`leads/describe.json`, the deleted-leads activity feed, and the Bulk Lead Extract job lifecycle (create,
enqueue, status, file with `Range`, cancel) with Marketo's limits: 31-day filters inclusive at both ends, 2 jobs
processing, 10 queued, a daily export quota, 100 calls per 20 s and 10 concurrent calls.

What Adobe documents and a loader must cope with, on by default:
- `activities/deletedleads.json` scans the activity log in blocks (`delete_scan_block`, one day): a block
  without deletes answers a page with no `result`, `moreResult: true` and a `nextPageToken` that moved on;
  a block with a few deletes answers a short page, still `moreResult: true`. `moreResult` is false once the
  scan reaches the present.
- Delete activities are pruned after `delete_retention_days` (14): older ones never show in the feed.
  A deleted person is gone from every export (`add_deletes`).
- A job's status changes at most every `status_update_seconds` (60) of real time. `status_update_seconds=0`
  is the fast mode for tests and the demo: every `status.json` call is then one tick of the export
  scheduler, so a test never waits on wall-clock time.
- `file.json` of a job that is not Completed, or of an unknown export id, answers HTTP 404 with a
  plain-text body.

Tests switch faults on per call (`fail_next`) or per behaviour (plain attributes such as
`stuck_in_queue`, `cut_download_after`, `checksum_mismatch_times`), change the data between loader runs
(`upsert_leads`, `set_company_fields`, `add_deletes`), and read `stats` to assert on what the client did.

Run the demo server with `python -m sandbox.marketo --persons 5000 --seed 1 --port 0`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import collections
import contextlib
import hashlib
import json
import re
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sandbox.people import generate_deleted, generate_leads, marketo_fields

MAX_FILTER_SPAN = timedelta(days=31)
MAX_PROCESSING_JOBS = 2
MAX_QUEUED_JOBS = 10  # Marketo counts the processing jobs in the queue too
MAX_CONCURRENT_CALLS = 10
MAX_BATCH_SIZE = 300
DELETE_LEAD_ACTIVITY_TYPE = 37
# Adobe: "Deletions older than 14 days may be pruned"; "status only updates once every 60 seconds"
DELETE_RETENTION_DAYS = 14.0
STATUS_UPDATE_SECONDS = 60.0
DELETE_SCAN_BLOCK = timedelta(days=1)
CHUNK_SIZE = 64 * 1024
# Marketo's export quota resets at midnight US Central, not UTC.
QUOTA_TIMEZONE = ZoneInfo("America/Chicago")
CSV_DELIMITERS = {"CSV": ",", "TSV": "\t", "SSV": " "}

ERROR_MESSAGES: dict[str, str] = {
    "600": "Access token not specified",
    "601": "Access token invalid",
    "602": "Access token expired",
    "603": "Access denied",
    "604": "Request timed out",
    "606": "Max rate limit '100' exceeded with in '20' secs",
    "607": "Daily quota reached",
    "608": "API Temporarily Unavailable",
    "609": "Invalid JSON",
    "610": "Requested resource not found",
    "611": "System error",
    "615": "Concurrent access limit reached",
    "1003": "Invalid value",
    "1029": "Too many jobs in queue",
    "1035": "Unsupported filter type for target subscription",
}

STATUS_CREATED, STATUS_QUEUED, STATUS_PROCESSING = "Created", "Queued", "Processing"
STATUS_COMPLETED, STATUS_FAILED, STATUS_CANCELLED = "Completed", "Failed", "Cancelled"


class ApiError(Exception):
    """A response-level Marketo error: HTTP 200 with `success:false` unless `http_status` says otherwise."""

    def __init__(self, code: str, message: str | None = None, http_status: int = 200) -> None:
        super().__init__(message or ERROR_MESSAGES.get(code, "Error"))
        self.code = code
        self.message = message or ERROR_MESSAGES.get(code, "Error")
        self.http_status = http_status


@dataclass
class EmulatorStats:
    """What the client did, for tests to assert on.

    calls               requests received per endpoint, refused ones included: "token", "describe",
                        "pagingtoken", "deletedleads", "create", "list", "enqueue", "status", "cancel",
                        "file", "unknown"
    max_in_flight       most API requests in flight at once (token calls excluded), refused ones included
    max_processing_jobs most jobs in Processing at once (the emulator caps it at 2)
    max_queued_jobs     most jobs Queued or Processing at once
    query_param_tokens  requests that sent `access_token` in the query string (all refused with 601)
    export_filters      the `filter` object of every job created, in order
    file_bytes_served   body bytes written by file.json
    errors              error responses sent, by Marketo code (injected ones included)
    """

    calls: collections.Counter = field(default_factory=collections.Counter)
    max_in_flight: int = 0
    max_processing_jobs: int = 0
    max_queued_jobs: int = 0
    query_param_tokens: int = 0
    export_filters: list[dict] = field(default_factory=list)
    file_bytes_served: int = 0
    export_write_seconds: float = 0.0  # time spent writing export files: Marketo's share of a bulk load
    errors: collections.Counter = field(default_factory=collections.Counter)


@dataclass
class ExportJob:
    export_id: str
    format: str
    fields: list[str]
    header_names: list[str]
    filter_type: str
    start: pd.Timestamp
    end: pd.Timestamp
    created_at: datetime
    status: str = STATUS_CREATED
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    ticks: int = 0
    fail_with: str | None = None
    error_msg: str | None = None
    path: Path | None = None
    number_of_records: int | None = None
    file_size: int | None = None
    file_checksum: str | None = None

    def describe(self) -> dict:
        """The job as `status.json` shows it: timestamps and file facts appear as the job reaches them."""
        out: dict[str, Any] = {
            "exportId": self.export_id,
            "format": self.format,
            "status": self.status,
            "createdAt": _iso(self.created_at),
        }
        for key, value in (
            ("queuedAt", self.queued_at),
            ("startedAt", self.started_at),
            ("finishedAt", self.finished_at),
        ):
            if value is not None:
                out[key] = _iso(value)
        if self.status == STATUS_COMPLETED:
            out["numberOfRecords"] = self.number_of_records
            out["fileSize"] = self.file_size
            out["fileChecksum"] = self.file_checksum
        if self.status == STATUS_FAILED:
            out["errorMsg"] = self.error_msg
        return out


def _iso(value: datetime | pd.Timestamp) -> str:
    return pd.Timestamp(value).tz_convert(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: Any, what: str) -> pd.Timestamp:
    """An ISO-8601 datetime as Marketo accepts it (with or without milliseconds, `Z` or an offset, or a bare
    date); naive values are UTC. Raises ApiError 1003 naming `what` otherwise."""
    if isinstance(value, datetime | pd.Timestamp):
        ts = pd.Timestamp(value)
    else:
        try:
            ts = pd.Timestamp(datetime.fromisoformat(str(value).strip()))
        except ValueError:
            raise ApiError("1003", f"Invalid date time format for '{what}': {value}") from None
    return ts.tz_localize(UTC) if ts.tzinfo is None else ts.tz_convert(UTC)


def _new_request_id() -> str:
    return f"{secrets.token_hex(2)}#{int(time.time() * 1000):x}"


def _quota_day(moment: datetime) -> str:
    return moment.astimezone(QUOTA_TIMEZONE).date().isoformat()


# ---------------------------------------------------------------------------------------------------- CSV


_TEXT = pa.large_string()


def _format_column(series: pd.Series, data_type: str | None, delimiter: str) -> pa.Array:
    """One column as Marketo writes it in an export: `null` for missing values, `2024-01-31T10:00:00Z`
    datetimes, `true`/`false`, RFC-4180 quoting only where a value needs it. Arrow compute kernels do the
    work, so a million-row column formats in milliseconds."""
    if isinstance(series.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(series.dtype):
        values = pa.array(series, from_pandas=True)
        # Arrow keeps instants in UTC, so dropping the zone leaves UTC wall time; casts beat strftime 2x.
        values = pc.cast(values, pa.timestamp("s"), safe=False)
        if data_type == "date":
            text = pc.cast(pc.cast(values, pa.date32()), _TEXT)
        else:
            spaced = pc.replace_substring(pc.cast(values, _TEXT), " ", "T", max_replacements=1)
            text = pc.binary_join_element_wise(spaced, pa.scalar("Z", _TEXT), pa.scalar("", _TEXT))
    elif (
        pd.api.types.is_bool_dtype(series.dtype)
        or pd.api.types.is_integer_dtype(series.dtype)
        or pd.api.types.is_float_dtype(series.dtype)
    ):
        text = pc.cast(pa.array(series, from_pandas=True), _TEXT)
    else:
        if pd.api.types.infer_dtype(series, skipna=True) not in ("string", "empty"):
            series = series.map(_scalar_text, na_action="ignore")
        strings = pc.cast(pa.array(series, from_pandas=True), _TEXT)
        needs_quotes = pc.match_substring_regex(strings, f'["\r\n{re.escape(delimiter)}]')
        quote = pa.scalar('"', _TEXT)
        quoted = pc.binary_join_element_wise(
            quote, pc.replace_substring(strings, '"', '""'), quote, pa.scalar("", _TEXT)
        )
        text = pc.if_else(needs_quotes, quoted, strings)
    return pc.fill_null(pc.cast(text, _TEXT), pa.scalar("null", _TEXT))


def _scalar_text(value: Any) -> str:
    """Text of a single value that sits in an untyped (object) column."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, datetime | pd.Timestamp):
        return _iso(value)
    return str(value)


def write_export_csv(
    frame: pd.DataFrame,
    fields: list[str],
    path: Path,
    *,
    field_types: dict[str, str] | None = None,
    header_names: list[str] | None = None,
    delimiter: str = ",",
    line_terminator: str = "\n",
    chunk_rows: int = 200_000,
) -> tuple[int, int, str]:
    """Write `frame[fields]` as a Marketo bulk export file; returns (rows, bytes, "sha256:<hex>").

    Columns missing from `frame` are written as `null`, like a describe field nobody ever filled. Each chunk
    of rows is joined into lines by Arrow and written straight from the result's data buffer: no Python
    string per row.
    """
    field_types = field_types or {}
    digest = hashlib.sha256()
    size = 0
    separator, terminator = pa.scalar(delimiter, _TEXT), pa.scalar(line_terminator, _TEXT)
    with open(path, "wb") as out:

        def emit(data: bytes | memoryview) -> None:
            nonlocal size
            digest.update(data)
            size += len(data)
            out.write(data)

        emit((delimiter.join(header_names or fields) + line_terminator).encode("utf-8"))
        for lo in range(0, len(frame), chunk_rows):
            chunk = frame.iloc[lo : lo + chunk_rows]
            columns = [
                _format_column(chunk[name], field_types.get(name), delimiter)
                if name in chunk.columns
                else pa.array(np.full(len(chunk), "null", dtype=object), type=_TEXT)
                for name in fields
            ]
            rows = pc.binary_join_element_wise(*columns, separator)
            lines = pc.binary_join_element_wise(rows, terminator, pa.scalar("", _TEXT))
            if isinstance(lines, pa.ChunkedArray):  # columns of a concatenated frame
                lines = lines.combine_chunks()
            # A fresh, null-free string array keeps its values back to back in one buffer: that buffer is
            # the CSV body of the chunk.
            offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
            emit(memoryview(lines.buffers()[2])[int(offsets[0]) : int(offsets[-1])])
    return len(frame), size, f"sha256:{digest.hexdigest()}"


# ---------------------------------------------------------------------------------------------- paging


def encode_paging_token(activity_date: pd.Timestamp, activity_id: int) -> str:
    """An opaque token for "after (activity_date, activity_id)", base32 like Marketo's own tokens."""
    raw = f"{int(activity_date.timestamp())}:{activity_id}".encode()
    return base64.b32encode(raw).decode().rstrip("=")


def decode_paging_token(token: str) -> tuple[int, int]:
    try:
        padded = token + "=" * (-len(token) % 8)
        seconds, activity_id = base64.b32decode(padded).decode().split(":")
        return int(seconds), int(activity_id)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError("1003", f"Invalid value for nextPageToken: {token}") from None


# ---------------------------------------------------------------------------------------------- server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 makes bursts of parallel connects wait on SYN retries.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Open keep-alive connections, so that stop() really cuts clients off (their pooled connections
        # would otherwise go on being served by their handler threads).
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def close_connections(self) -> None:
        with self.connections_lock:
            for connection in self.connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self.connections.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-download (or the emulator cutting one on purpose) is routine here.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the emulator; keep-alive (HTTP/1.1) like the real API."""

    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, keep-alive clients wait 40 ms per call.
    disable_nagle_algorithm = True
    emulator: MarketoEmulator

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.emulator._dispatch(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self.emulator._dispatch(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Test output stays readable; `stats` is the record of what happened.
        return


_ROUTES: list[tuple[str, str, re.Pattern]] = [
    ("token", "GET POST", re.compile(r"^/identity/oauth/token$")),
    ("describe", "GET", re.compile(r"^/rest/v1/leads/describe\.json$")),
    ("pagingtoken", "GET", re.compile(r"^/rest/v1/activities/pagingtoken\.json$")),
    ("deletedleads", "GET", re.compile(r"^/rest/v1/activities/deletedleads\.json$")),
    ("create", "POST", re.compile(r"^/bulk/v1/leads/export/create\.json$")),
    ("list", "GET", re.compile(r"^/bulk/v1/leads/export\.json$")),
    ("enqueue", "POST", re.compile(r"^/bulk/v1/leads/export/([^/]+)/enqueue\.json$")),
    ("status", "GET", re.compile(r"^/bulk/v1/leads/export/([^/]+)/status\.json$")),
    ("cancel", "POST", re.compile(r"^/bulk/v1/leads/export/([^/]+)/cancel\.json$")),
    ("file", "GET", re.compile(r"^/bulk/v1/leads/export/([^/]+)/file\.json$")),
]


@dataclass
class _Request:
    handler: _Handler
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    args: tuple[str, ...]


@dataclass
class _InjectedFault:
    path_contains: str
    code: str | int
    times: int
    message: str | None
    after: int = 0  # matching requests let through before the fault fires


class MarketoEmulator:
    """Marketo for the loader's tests and the demo. See the module docstring.

    Switches (plain attributes, settable at any time):
      reject_updated_at_filter  export create with an `updatedAt` filter answers 1035
      export_daily_quota_bytes  once today's completed files exceed it, enqueue answers 1029
      daily_call_quota          after that many API calls (token calls excluded) every call answers 607
      stuck_in_queue            enqueued jobs never leave Queued
      fail_next_job             the next job to start processing ends Failed with this errorMsg (then None)
      file_404_times            a Completed job's file answers HTTP 404 this many times first
      cut_download_after        the next file GET announces the full Content-Length but closes the
                                connection after this many body bytes (once, then None)
      checksum_mismatch_times   the next N file GETs change one byte of the body
      wrong_checksum_in_status_times  the next N status replies of a Completed job carry a wrong
                                fileChecksum (the file itself is intact)
      miscount_next_export      the next export's status says this many records more (or fewer) than its
                                file holds (then 0): a wrong but well-formed numberOfRecords
      rewrite_next_export       a function of the next export file's bytes that returns the bytes served
                                (checksum and size follow them): malformed files as a real instance can send
      repeat_in_next_export     persons (a frame like upsert_leads takes) written again, after its own rows,
                                into the next export file (then None): Marketo listing a person twice
      enforce_rate_limits       606 past `rate_limit_calls` per `rate_limit_window` s; 615 past 10 in flight
      response_delay            seconds every API call waits while in flight (to provoke 615 in tests)
    """

    def __init__(
        self,
        leads: pd.DataFrame,
        deleted: list[dict] | None = None,
        fields: list[dict] | None = None,
        client_id: str = "sandbox-client",
        client_secret: str = "sandbox-secret",
        token_ttl: int = 3600,
        workdir: str | Path | None = None,
        line_terminator: str = "\n",
        processing_polls: int = 1,
        status_update_seconds: float = STATUS_UPDATE_SECONDS,
        delete_retention_days: float = DELETE_RETENTION_DAYS,
        delete_scan_block: timedelta = DELETE_SCAN_BLOCK,
        rate_limit_calls: int = 100,
        rate_limit_window: float = 20.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        with_dynamics = "msftType" in leads.columns
        self.fields: list[dict] = fields if fields is not None else marketo_fields(with_dynamics)
        self._field_types = {f["rest"]["name"]: f["dataType"] for f in self.fields}
        self.client_id, self.client_secret, self.token_ttl = client_id, client_secret, token_ttl
        self.line_terminator = line_terminator
        self.processing_polls = processing_polls
        self.status_update_seconds = status_update_seconds
        self.delete_retention_days = delete_retention_days
        self.delete_scan_block = delete_scan_block
        self.rate_limit_calls, self.rate_limit_window = rate_limit_calls, rate_limit_window
        self.host, self.port = host, port
        self._tempdir: tempfile.TemporaryDirectory | None = None
        if workdir is None:
            self._tempdir = tempfile.TemporaryDirectory(prefix="marketo-emulator-")
            workdir = self._tempdir.name
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)

        self.reject_updated_at_filter: bool = False
        self.export_daily_quota_bytes: int | None = None
        self.daily_call_quota: int | None = None
        self.stuck_in_queue: bool = False
        self.fail_next_job: str | None = None
        self.file_404_times: int = 0
        self.cut_download_after: int | None = None
        self.checksum_mismatch_times: int = 0
        self.wrong_checksum_in_status_times: int = 0
        self.repeat_in_next_export: pd.DataFrame | None = None
        self.miscount_next_export: int = 0
        self.rewrite_next_export: Callable[[bytes], bytes] | None = None
        self.enforce_rate_limits: bool = True
        self.response_delay: float = 0.0

        self.stats = EmulatorStats()
        self.base_url: str = ""
        self._lock = threading.RLock()  # jobs, tokens, counters, faults
        self._data_lock = threading.Lock()  # the persons frame and the delete log
        self._leads = self._typed(leads).reset_index(drop=True)
        self._deletes = pd.DataFrame(
            {
                "id": pd.Series(dtype="int64"),
                "leadId": pd.Series(dtype="int64"),
                "activityDate": pd.Series(dtype="datetime64[s, UTC]"),
                "name": pd.Series(dtype=object),
            }
        )
        self._next_activity_id = 1
        self._tokens: dict[str, float] = {}
        self._current_token: str | None = None
        self._jobs: dict[str, ExportJob] = {}
        self._faults: list[_InjectedFault] = []
        self._recent_calls: collections.deque[float] = collections.deque()
        self._calls_today = 0
        self._in_flight = 0
        self._exported_bytes: dict[str, int] = collections.defaultdict(int)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        if deleted:
            self.add_deletes(deleted)

    @classmethod
    def generated(
        cls,
        persons: int,
        seed: int = 0,
        start: datetime | None = None,
        end: datetime | None = None,
        deleted_fraction: float = 0.01,
        with_dynamics: bool = False,
        **kwargs: Any,
    ) -> MarketoEmulator:
        """An emulator over `generate_leads(persons, seed, start, end)` and its delete activities; `kwargs`
        go to the constructor."""
        leads = generate_leads(persons, seed=seed, start=start, end=end, with_dynamics=with_dynamics)
        return cls(leads, generate_deleted(leads, fraction=deleted_fraction, seed=seed), **kwargs)

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> str:
        """Serve on `host` (a free port unless `port` was given) from a daemon thread; returns base_url."""
        handler = type("MarketoHandler", (_Handler,), {"emulator": self})
        self._server = _Server((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self.base_url = f"http://{self.host}:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="marketo-emulator",
            daemon=True,
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving and cut open connections. Jobs, files, tokens and data stay: `start()` again serves
        them on the same port, which is how a test simulates an outage."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server.close_connections()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MarketoEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def loader_env(self) -> dict[str, str]:
        """The settings that point `python -m loaders marketo` at this emulator (env vars)."""
        return {
            "SOURCES__MARKETO__BASE_URL": self.base_url,
            "SOURCES__MARKETO__CLIENT_ID": self.client_id,
            "SOURCES__MARKETO__CLIENT_SECRET": self.client_secret,
        }

    # -------------------------------------------------------------------------------- data changes

    @property
    def leads(self) -> pd.DataFrame:
        """A copy of the persons as currently stored."""
        with self._data_lock:
            return self._leads.copy()

    def upsert_leads(self, rows: pd.DataFrame) -> None:
        """Replace persons by `id` (only the columns `rows` has) and append new ones. Whatever `updatedAt`
        the rows carry is what the export filter sees, so tests control which window a change lands in."""
        rows = self._typed(rows)
        with self._data_lock:
            base = self._leads.set_index("id", drop=False)
            updates = rows.set_index("id", drop=False)
            if updates.index.has_duplicates:
                raise ValueError("upsert_leads: duplicate ids in rows")
            known = updates.index.intersection(base.index)
            changed = base.loc[known].copy()
            for column in updates.columns:
                changed[column] = updates.loc[known, column]
            new = updates.loc[updates.index.difference(base.index)].reindex(columns=base.columns)
            parts = [base.drop(index=known), changed] + ([new] if len(new) else [])
            self._leads = pd.concat(parts).reset_index(drop=True)

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        """A copy with datetime fields as UTC timestamps, so that strings or naive values handed in by a
        test compare correctly with the export filter's bounds."""
        frame = frame.copy()
        for name, data_type in self._field_types.items():
            if data_type == "datetime" and name in frame.columns:
                frame[name] = pd.to_datetime(frame[name], utc=True)
        return frame

    def set_company_fields(self, lead_id: int, **fields: Any) -> None:
        """Change company-entity fields (company, website, ...) without touching `updatedAt`: Marketo's own
        bug (B9), which makes an `updatedAt`-incremental load miss the change."""
        with self._data_lock:
            unknown = [name for name in fields if name not in self._leads.columns]
            if unknown:
                raise KeyError(f"set_company_fields: no such field(s) {unknown}")
            mask = (self._leads["id"] == lead_id).to_numpy()
            if not mask.any():
                raise KeyError(f"set_company_fields: no person with id {lead_id}")
            for name, value in fields.items():
                self._leads.loc[mask, name] = value

    def add_deletes(self, rows: Iterable[dict]) -> None:
        """Delete persons: append delete-person activities `{"leadId", "activityDate"}` (each gets the next
        activity id) and take the persons out of every later export, as Marketo does. An id that names no
        person (already deleted, or never exported) still gets its activity."""
        rows = list(rows)
        if not rows:
            return
        with self._data_lock:
            lead_ids = np.array([int(r["leadId"]) for r in rows], dtype=np.int64)
            dates = pd.Series([parse_iso(r["activityDate"], "activityDate") for r in rows]).astype("datetime64[s, UTC]")
            names = self._leads.set_index("id").reindex(lead_ids)
            labels = (
                (
                    names["lastName"].astype(object).fillna("") + ", " + names["firstName"].astype(object).fillna("")
                ).to_numpy(dtype=object)
                if {"firstName", "lastName"} <= set(names.columns)
                else np.full(len(rows), "", dtype=object)
            )
            ids = np.arange(self._next_activity_id, self._next_activity_id + len(rows), dtype=np.int64)
            self._next_activity_id += len(rows)
            added = pd.DataFrame({"id": ids, "leadId": lead_ids, "activityDate": dates, "name": labels})
            frames = [frame for frame in (self._deletes, added) if len(frame)]
            self._deletes = pd.concat(frames).sort_values(["activityDate", "id"]).reset_index(drop=True)
            self._leads = self._leads[~self._leads["id"].isin(lead_ids)].reset_index(drop=True)

    def delete_leads(self, lead_ids: Iterable[int], when: datetime | None = None) -> None:
        """Delete persons now (or at `when`): `add_deletes` with one activity per id."""
        stamp = when or datetime.now(UTC)
        self.add_deletes({"leadId": int(i), "activityDate": stamp} for i in lead_ids)

    # ------------------------------------------------------------------------------------ fault knobs

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 602; the next token call issues a fresh one."""
        with self._lock:
            past = time.monotonic() - 1
            self._tokens = {token: past for token in self._tokens}
            self._current_token = None

    def fail_next(
        self, path_contains: str, code: str | int, times: int = 1, message: str | None = None, after: int = 0
    ) -> None:
        """The next `times` requests whose path contains `path_contains` fail (once `after` of them went
        through): a string code as a Marketo envelope error (HTTP 200), an int code as that HTTP status with a
        short text body."""
        with self._lock:
            self._faults.append(_InjectedFault(path_contains, code, times, message, after))

    def export_file_path(self, export_id: str) -> Path | None:
        """Where a Completed job's file sits on disk (for benchmarks that read it directly)."""
        with self._lock:
            job = self._jobs.get(export_id)
            return job.path if job is not None and job.status == STATUS_COMPLETED else None

    def jobs(self) -> list[dict]:
        """Every export job as status.json would show it."""
        with self._lock:
            return [job.describe() for job in self._jobs.values()]

    # -------------------------------------------------------------------------------------- dispatch

    def _dispatch(self, handler: _Handler, method: str) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        name, args = "unknown", ()
        allowed = ""
        for route_name, methods, pattern in _ROUTES:
            match = pattern.match(parts.path)
            if match:
                name, args, allowed = route_name, match.groups(), methods
                break
        with self._lock:
            self.stats.calls[name] += 1
        if name == "unknown":
            self._send_error(handler, ApiError("610"))
            return
        if method not in allowed.split():
            self._send_text(handler, 405, "Method Not Allowed")
            return
        request = _Request(handler, method, parts.path, query, body, args)
        try:
            if name == "token":
                if not self._inject_fault(request):
                    self._token(request)
                return
            self._api_call(name, request)
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # the emulator's own bug: say so loudly rather than hang the client
            self._send_text(handler, 500, f"Emulator error: {type(exc).__name__}: {exc}")

    def _api_call(self, name: str, request: _Request) -> None:
        with self._lock:
            self._in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self._in_flight)
            too_many = self._in_flight > MAX_CONCURRENT_CALLS
        try:
            if self._inject_fault(request):
                return
            try:
                if too_many and self.enforce_rate_limits:
                    raise ApiError("615")
                self._authenticate(request)
                self._admit()
                if self.response_delay:
                    time.sleep(self.response_delay)
                handler = getattr(self, f"_api_{name}")
                result = handler(request)
            except ApiError as err:
                self._send_error(request.handler, err)
                return
            if result is not None:
                self._send_json(request.handler, 200, result)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _inject_fault(self, request: _Request) -> bool:
        with self._lock:
            fault = next((f for f in self._faults if f.path_contains in request.path and f.times > 0), None)
            if fault is None:
                return False
            if fault.after > 0:
                fault.after -= 1
                return False
            fault.times -= 1
            if fault.times == 0:
                self._faults.remove(fault)
        if isinstance(fault.code, int):
            self._send_text(request.handler, fault.code, fault.message or f"{fault.code} Injected failure")
        else:
            code = str(fault.code)
            message = fault.message or self._default_message(code)
            self._send_error(request.handler, ApiError(code, message))
        return True

    def _default_message(self, code: str) -> str:
        if code == "606":
            return f"Max rate limit '{self.rate_limit_calls}' exceeded with in '{self.rate_limit_window:g}' secs"
        return ERROR_MESSAGES.get(code, "Error")

    def _authenticate(self, request: _Request) -> None:
        if "access_token" in request.query:
            # Marketo removed query-parameter auth (June 2025); a client still sending it must notice.
            with self._lock:
                self.stats.query_param_tokens += 1
            raise ApiError("601")
        header = request.handler.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header or scheme.lower() != "bearer" or not token.strip():
            raise ApiError("600")
        with self._lock:
            expires = self._tokens.get(token.strip())
        if expires is None:
            raise ApiError("601")
        if expires <= time.monotonic():
            raise ApiError("602")

    def _admit(self) -> None:
        """Rate window and daily quota. Refused calls do not count, as in Marketo."""
        with self._lock:
            now = time.monotonic()
            if self.enforce_rate_limits:
                while self._recent_calls and self._recent_calls[0] <= now - self.rate_limit_window:
                    self._recent_calls.popleft()
                if len(self._recent_calls) >= self.rate_limit_calls:
                    raise ApiError("606", self._default_message("606"))
            if self.daily_call_quota is not None and self._calls_today >= self.daily_call_quota:
                raise ApiError("607")
            self._recent_calls.append(now)
            self._calls_today += 1

    # -------------------------------------------------------------------------------------- responses

    def _send_json(self, handler: _Handler, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode("utf-8")
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json;charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _send_text(self, handler: _Handler, status: int, text: str) -> None:
        data = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain;charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _send_error(self, handler: _Handler, err: ApiError) -> None:
        with self._lock:
            self.stats.errors[err.code] += 1
        self._send_json(
            handler,
            err.http_status,
            {
                "requestId": _new_request_id(),
                "success": False,
                "errors": [{"code": err.code, "message": err.message}],
            },
        )

    @staticmethod
    def _envelope(result: list | None = None, **extra: Any) -> dict:
        out: dict[str, Any] = {"requestId": _new_request_id()}
        if result is not None:
            out["result"] = result
        out["success"] = True
        out.update(extra)
        return out

    # ------------------------------------------------------------------------------------------ token

    def _token(self, request: _Request) -> None:
        params = dict(request.query)
        if request.body:
            params.update({k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()})
        if params.get("grant_type") != "client_credentials":
            self._send_json(
                request.handler,
                400,
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"},
            )
            return
        if params.get("client_id") != self.client_id or params.get("client_secret") != self.client_secret:
            self._send_json(
                request.handler,
                401,
                {"error": "invalid_client", "error_description": "Bad client credentials"},
            )
            return
        with self._lock:
            now = time.monotonic()
            token = self._current_token
            # Like Marketo, a still-valid token is handed out again with its remaining lifetime.
            if token is None or self._tokens.get(token, 0) <= now:
                token = f"{uuid.uuid4()}:ab"
                self._tokens[token] = now + self.token_ttl
                self._current_token = token
            remaining = max(0, int(self._tokens[token] - now + 0.999))
        self._send_json(
            request.handler,
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": remaining,
                "scope": "apiuser@sandbox.example",
            },
        )

    # --------------------------------------------------------------------------------------- REST API

    def _api_describe(self, request: _Request) -> dict:
        return self._envelope(self.fields)

    def _api_pagingtoken(self, request: _Request) -> dict:
        since = request.query.get("sinceDatetime")
        if not since:
            raise ApiError("1003", "Required parameter 'sinceDatetime' is missing")
        start = parse_iso(since, "sinceDatetime")
        # -1: the first delete exactly at `since` is included (ids start at 1).
        return {
            "requestId": _new_request_id(),
            "success": True,
            "nextPageToken": encode_paging_token(start, -1),
        }

    def _api_deletedleads(self, request: _Request) -> dict:
        """One block of the activity log per call, as Marketo scans it: the block starts at the token and
        spans `delete_scan_block`; a full page ends early (the token then points after its last item), an
        empty or short block still says `moreResult: true` with the token moved past the block, and the scan
        stops (`moreResult: false`) once the block reaches the present."""
        token = request.query.get("nextPageToken")
        if not token:
            raise ApiError("1003", "Required parameter 'nextPageToken' is missing")
        seconds, after_id = decode_paging_token(token)
        try:
            batch_size = int(request.query.get("batchSize") or MAX_BATCH_SIZE)
        except ValueError:
            raise ApiError("1003", f"Invalid value for batchSize: {request.query['batchSize']}") from None
        batch_size = max(1, min(batch_size, MAX_BATCH_SIZE))
        now = int(time.time())
        block_end = seconds + max(1, int(self.delete_scan_block.total_seconds()))
        oldest_kept = now - int(self.delete_retention_days * 86400)
        with self._data_lock:
            log = self._deletes
            epoch = log["activityDate"].dt.tz_convert(None).to_numpy(dtype="datetime64[s]").astype(np.int64)
            ids = log["id"].to_numpy()
            after = (epoch > seconds) | ((epoch == seconds) & (ids > after_id))
            pending = log[after & (epoch < block_end) & (epoch >= oldest_kept)]
        page = pending.iloc[:batch_size]
        if len(pending) > batch_size:
            last = page.iloc[-1]
            next_token, more = encode_paging_token(last["activityDate"], int(last["id"])), True
        elif block_end <= now:
            next_token, more = encode_paging_token(pd.Timestamp(block_end, unit="s", tz=UTC), -1), True
        else:
            # the present: deletes still to come are stamped from now on
            next_token, more = encode_paging_token(pd.Timestamp(now, unit="s", tz=UTC), -1), False
        items = [
            {
                "id": int(row.id),
                "marketoGUID": str(int(row.id)),
                "leadId": int(row.leadId),
                "activityDate": _iso(row.activityDate),
                "activityTypeId": DELETE_LEAD_ACTIVITY_TYPE,
                "primaryAttributeValueId": int(row.leadId),
                "primaryAttributeValue": row.name,
                "attributes": [],
            }
            for row in page.itertuples(index=False)
        ]
        # Marketo leaves `result` out entirely when there is nothing to return.
        return self._envelope(items or None, nextPageToken=next_token, moreResult=more)

    # -------------------------------------------------------------------------------------- Bulk API

    def _api_create(self, request: _Request) -> dict:
        try:
            body = json.loads(request.body or b"{}")
        except json.JSONDecodeError:
            raise ApiError("609") from None
        if not isinstance(body, dict):
            raise ApiError("609")
        fmt = str(body.get("format", "CSV")).upper()
        if fmt not in CSV_DELIMITERS:
            raise ApiError("1003", f"Invalid format: {body.get('format')}")
        fields = body.get("fields")
        if not isinstance(fields, list) or not fields:
            raise ApiError("1003", "Required field 'fields' is missing")
        unknown = [f for f in fields if f not in self._field_types]
        if unknown:
            raise ApiError("1003", f"Invalid field: {', '.join(map(str, unknown))}")
        header_map = body.get("columnHeaderNames") or {}
        filters = body.get("filter")
        if not isinstance(filters, dict) or not filters:
            raise ApiError("1003", "Required field 'filter' is missing")
        if len(filters) != 1:
            raise ApiError("1003", "Only one filter type may be specified")
        ((filter_type, window),) = filters.items()
        if filter_type not in ("createdAt", "updatedAt"):
            raise ApiError("1035", f"Unsupported filter type for target subscription: {filter_type}")
        if filter_type == "updatedAt" and self.reject_updated_at_filter:
            raise ApiError("1035", "Unsupported filter type for target subscription: updatedAt")
        if not isinstance(window, dict) or "startAt" not in window or "endAt" not in window:
            raise ApiError("1003", f"Filter '{filter_type}' needs startAt and endAt")
        start, end = parse_iso(window["startAt"], "startAt"), parse_iso(window["endAt"], "endAt")
        if start > end:
            raise ApiError("1003", f"startAt {window['startAt']} is after endAt {window['endAt']}")
        if end - start > MAX_FILTER_SPAN:
            raise ApiError("1003", f"Date range of filter '{filter_type}' exceeds 31 days")
        job = ExportJob(
            export_id=str(uuid.uuid4()),
            format=fmt,
            fields=list(fields),
            header_names=[header_map.get(f, f) for f in fields],
            filter_type=filter_type,
            start=start,
            end=end,
            created_at=datetime.now(UTC),
        )
        with self._lock:
            self._jobs[job.export_id] = job
            self.stats.export_filters.append(json.loads(json.dumps(filters)))
        return self._envelope([job.describe()])

    def _job(self, export_id: str) -> ExportJob:
        job = self._jobs.get(export_id)
        if job is None:
            raise ApiError("1003", f"Export id '{export_id}' not found")
        return job

    def _api_list(self, request: _Request) -> dict:
        wanted = {s.strip() for s in request.query.get("status", "").split(",") if s.strip()}
        with self._lock:
            jobs = [j.describe() for j in self._jobs.values() if not wanted or j.status in wanted]
        return self._envelope(jobs or None)

    def _api_enqueue(self, request: _Request) -> dict:
        with self._lock:
            job = self._job(request.args[0])
            if job.status in (STATUS_QUEUED, STATUS_PROCESSING):
                raise ApiError("1029", "Job already queued")
            if job.status != STATUS_CREATED:
                raise ApiError("1003", f"Export job is {job.status}, only a Created job can be enqueued")
            if self.export_daily_quota_bytes is not None:
                used = self._exported_bytes[_quota_day(datetime.now(UTC))]
                if used > self.export_daily_quota_bytes:
                    raise ApiError("1029", f"Export daily quota {_human_bytes(self.export_daily_quota_bytes)} exceeded")
            active = sum(j.status in (STATUS_QUEUED, STATUS_PROCESSING) for j in self._jobs.values())
            if active >= MAX_QUEUED_JOBS:
                raise ApiError("1029", "Too many jobs in queue")
            job.status, job.queued_at = STATUS_QUEUED, datetime.now(UTC)
            self.stats.max_queued_jobs = max(self.stats.max_queued_jobs, active + 1)
            return self._envelope([job.describe()])

    def _api_status(self, request: _Request) -> dict:
        with self._lock:
            job = self._job(request.args[0])
            self._tick()
            shown = job.describe()
            if job.status == STATUS_COMPLETED and self.wrong_checksum_in_status_times > 0:
                self.wrong_checksum_in_status_times -= 1
                shown["fileChecksum"] = "sha256:" + hashlib.sha256(b"not this file").hexdigest()
            return self._envelope([shown])

    def _api_cancel(self, request: _Request) -> dict:
        with self._lock:
            job = self._job(request.args[0])
            if job.status in (STATUS_CREATED, STATUS_QUEUED, STATUS_PROCESSING):
                job.status = STATUS_CANCELLED
            return self._envelope([job.describe()])

    def _changes_due(self, since: datetime | None, now: datetime) -> bool:
        """Whether a job whose status last changed at `since` may change now (always, in fast mode)."""
        if self.status_update_seconds <= 0 or since is None:
            return True
        return (now - since).total_seconds() >= self.status_update_seconds

    def _tick(self) -> None:
        """One step of the export scheduler: start queued jobs while fewer than 2 process, then move each
        processing job on. In fast mode a job completes after `processing_polls` ticks in Processing; in
        real time each of its changes waits `status_update_seconds` after the one before."""
        now = datetime.now(UTC)
        self._start_queued(now)
        for job in [j for j in self._jobs.values() if j.status == STATUS_PROCESSING]:
            job.ticks += 1
            fast = self.status_update_seconds <= 0
            if (fast and job.ticks > self.processing_polls) or (not fast and self._changes_due(job.started_at, now)):
                self._finish(job)
        self._start_queued(now)

    def _start_queued(self, now: datetime) -> None:
        if self.stuck_in_queue:
            return
        queued = sorted((j for j in self._jobs.values() if j.status == STATUS_QUEUED), key=lambda j: j.queued_at)
        for job in queued:
            processing = sum(j.status == STATUS_PROCESSING for j in self._jobs.values())
            if processing >= MAX_PROCESSING_JOBS:
                break
            if not self._changes_due(job.queued_at, now):
                continue
            job.status, job.started_at, job.ticks = STATUS_PROCESSING, now, 0
            if self.fail_next_job is not None:
                job.fail_with, self.fail_next_job = self.fail_next_job, None
            self.stats.max_processing_jobs = max(self.stats.max_processing_jobs, processing + 1)

    def _finish(self, job: ExportJob) -> None:
        job.finished_at = datetime.now(UTC)
        if job.fail_with is not None:
            job.status, job.error_msg = STATUS_FAILED, job.fail_with
            return
        with self._data_lock:
            column = self._leads[job.filter_type]
            # Inclusive at both ends, like Marketo: a person stamped exactly on a boundary is in both windows.
            rows = self._leads[((column >= job.start) & (column <= job.end)).to_numpy()].sort_values("id")
        if self.repeat_in_next_export is not None:
            repeats, self.repeat_in_next_export = self._typed(self.repeat_in_next_export), None
            rows = pd.concat([rows, repeats.reindex(columns=rows.columns)], ignore_index=True)
        job.path = self.workdir / f"{job.export_id}.{job.format.lower()}"
        started = time.monotonic()
        job.number_of_records, job.file_size, job.file_checksum = write_export_csv(
            rows,
            job.fields,
            job.path,
            field_types=self._field_types,
            header_names=job.header_names,
            delimiter=CSV_DELIMITERS[job.format],
            line_terminator=self.line_terminator,
        )
        self.stats.export_write_seconds += time.monotonic() - started
        if self.rewrite_next_export is not None:
            rewrite, self.rewrite_next_export = self.rewrite_next_export, None
            body = rewrite(job.path.read_bytes())
            job.path.write_bytes(body)
            job.file_size, job.file_checksum = len(body), "sha256:" + hashlib.sha256(body).hexdigest()
        job.number_of_records += self.miscount_next_export
        self.miscount_next_export = 0
        job.status = STATUS_COMPLETED
        self._exported_bytes[_quota_day(job.finished_at)] += job.file_size

    # ------------------------------------------------------------------------------------------- file

    def _api_file(self, request: _Request) -> None:
        handler = request.handler
        with self._lock:
            job = self._jobs.get(request.args[0])
            # Marketo answers a file it does not have (yet) with a bare 404, not with its JSON envelope
            missing = job is None or job.status != STATUS_COMPLETED or job.path is None
            if not missing and self.file_404_times > 0:
                self.file_404_times -= 1
                missing = True
            if missing:
                self._send_text(handler, 404, "Not Found")
                return
            cut_after, self.cut_download_after = self.cut_download_after, None
            corrupt = self.checksum_mismatch_times > 0
            if corrupt:
                self.checksum_mismatch_times -= 1
            path, size = job.path, job.file_size or 0

        first, last, partial = 0, size - 1, False
        range_header = handler.headers.get("Range")
        if range_header:
            match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", range_header)
            if match and (match.group(1) or match.group(2)):
                lo, hi = match.groups()
                if lo:
                    first, last = int(lo), min(int(hi), size - 1) if hi else size - 1
                else:  # suffix range: the last N bytes
                    first, last = max(0, size - int(hi)), size - 1
                if first >= size or first > last:
                    handler.send_response(416)
                    handler.send_header("Content-Range", f"bytes */{size}")
                    handler.send_header("Content-Length", "0")
                    handler.end_headers()
                    return
                partial = True
        length = last - first + 1 if size else 0
        corrupt_at = _corruptible_offset(path, first, length) if corrupt else None

        handler.send_response(206 if partial else 200)
        handler.send_header("Content-Type", "text/csv;charset=UTF-8")
        handler.send_header("Content-Length", str(length))
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("Content-Disposition", f'attachment; filename="{job.export_id}.csv"')
        if partial:
            handler.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        handler.end_headers()
        budget = length if cut_after is None else min(length, cut_after)
        sent = 0
        with open(path, "rb") as source:
            source.seek(first)
            while sent < budget:
                chunk = source.read(min(CHUNK_SIZE, budget - sent))
                if not chunk:
                    break
                if corrupt_at is not None and first + sent <= corrupt_at < first + sent + len(chunk):
                    chunk = _flip_byte(chunk, corrupt_at - first - sent)
                handler.wfile.write(chunk)
                sent += len(chunk)
                with self._lock:
                    self.stats.file_bytes_served += len(chunk)
        if cut_after is not None and sent < length:
            # The body stops short of the announced Content-Length: what a dropped connection looks like.
            handler.wfile.flush()
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)


def _corruptible_offset(path: Path, first: int, length: int) -> int | None:
    """An offset near the middle of the served range whose byte is a letter or digit, so that changing it
    alters the checksum without breaking the CSV structure (a client must notice by the checksum)."""
    if length <= 0:
        return None
    middle = first + length // 2
    with open(path, "rb") as source:
        source.seek(middle)
        window = source.read(min(CHUNK_SIZE, first + length - middle))
    for i, byte in enumerate(window):
        if chr(byte).isalnum():
            return middle + i
    return None


def _flip_byte(chunk: bytes, index: int) -> bytes:
    original = chr(chunk[index])
    if original.isdigit():
        replacement = str((int(original) + 1) % 10)
    else:
        replacement = "b" if original.lower() == "a" else "a"
    return chunk[:index] + replacement.encode() + chunk[index + 1 :]


def _human_bytes(count: int) -> str:
    mb = 1024 * 1024
    return f"{count // mb}MB" if count % mb == 0 else f"{count} bytes"


# ---------------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox.marketo",
        description="Serve synthetic Marketo persons over the Marketo REST/Bulk API.",
    )
    parser.add_argument("--persons", type=int, default=5000, help="number of persons to generate")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (same seed, same data)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument(
        "--start",
        type=datetime.fromisoformat,
        default=None,
        help="earliest createdAt, ISO (default: three years before today)",
    )
    parser.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=None,
        help="latest createdAt/updatedAt, ISO (default: today 00:00 UTC)",
    )
    parser.add_argument("--deleted-fraction", type=float, default=0.01, help="share of persons deleted")
    parser.add_argument("--with-dynamics", action="store_true", help="sync persons to Dynamics (msft*)")
    parser.add_argument("--workdir", default=None, help="where export files go (default: a temp dir)")
    parser.add_argument(
        "--status-seconds",
        type=float,
        default=STATUS_UPDATE_SECONDS,
        help="a job's status changes at most this often, as in Marketo (default 60; 0 = fast mode, one change per "
        "status call)",
    )
    parser.add_argument("--client-id", default="sandbox-client")
    parser.add_argument("--client-secret", default="sandbox-secret")
    args = parser.parse_args(argv)

    # Installed before the URL is printed: a supervisor may stop us as soon as it has read it.
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    emulator = MarketoEmulator.generated(
        args.persons,
        seed=args.seed,
        start=args.start,
        end=args.end,
        deleted_fraction=args.deleted_fraction,
        with_dynamics=args.with_dynamics,
        client_id=args.client_id,
        client_secret=args.client_secret,
        workdir=args.workdir,
        port=args.port,
        status_update_seconds=args.status_seconds,
    )
    base_url = emulator.start()
    print(f"SOURCES__MARKETO__BASE_URL={base_url}")
    print(f"SOURCES__MARKETO__CLIENT_ID={args.client_id}")
    print(f"SOURCES__MARKETO__CLIENT_SECRET={args.client_secret}")
    print(f"# {args.persons} persons, seed {args.seed}; Ctrl-C stops", file=sys.stderr)
    sys.stdout.flush()
    try:
        while not stopped.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
