"""Bulk Lead Extract: export jobs, the file download, and the CSV -> Arrow parse.

A job goes Created -> Queued -> Processing -> Completed (or Failed / Cancelled). Marketo runs at most two
jobs per instance at once and keeps files for 7 days, so a job created by a killed run is worth reusing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import requests

from loaders.common import LoaderError, StopWithProgress, backoff_delays
from loaders.marketo.client import ExportQueueFull, MarketoClient
from warehouse.faults import fault_point

log = logging.getLogger(__name__)

FAILED = {"Failed", "Cancelled", "Canceled"}
PENDING = {"Created", "Queued", "Processing"}
ARROW_TYPES = {
    "integer": pa.int64(),
    "score": pa.int64(),
    "float": pa.float64(),
    "currency": pa.float64(),
    "percent": pa.float64(),
    "boolean": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}
INT_RE = r"^\s*[-+]?\d{1,18}\s*$"
FLOAT_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
CHUNK = 1 << 20
_SURROGATE = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True)
class Window:
    start: str  # ISO-8601 UTC without milliseconds, inclusive
    end: str  # inclusive

    @property
    def key(self) -> str:
        return f"{self.start}/{self.end}"


@dataclass
class JobOptions:
    poll_interval: float = 60.0
    job_timeout: float = 3 * 3600.0
    download_attempts: int = 5


class ExportJob:
    """One bulk lead export job; `ensure` creates and enqueues it, `wait` polls, `download` fetches."""

    def __init__(self, client: MarketoClient, export_id: str, options: JobOptions) -> None:
        self.client = client
        self.export_id = export_id
        self.options = options
        self.status: dict = {}

    @classmethod
    def create(
        cls, client: MarketoClient, fields: list[str], filter_field: str, window: Window, options: JobOptions
    ) -> ExportJob:
        body = {
            "fields": fields,
            "format": "CSV",
            "filter": {filter_field: {"startAt": window.start, "endAt": window.end}},
        }
        result = client.call("POST", "/bulk/v1/leads/export/create.json", json=body)["result"][0]
        job = cls(client, result["exportId"], options)
        job.status = result
        return job

    def _path(self, action: str) -> str:
        return f"/bulk/v1/leads/export/{self.export_id}/{action}.json"

    def refresh(self) -> dict:
        self.status = self.client.call("GET", self._path("status"))["result"][0]
        return self.status

    def enqueue(self) -> None:
        # 1029 "too many jobs in queue" is other integrations' jobs: wait for room rather than fail
        delays = backoff_delays(12, max(self.options.poll_interval, 0.01), 300.0)
        while True:
            try:
                self.client.call("POST", self._path("enqueue"))
                return
            except ExportQueueFull:
                delay = next(delays, None)
                if delay is None:
                    raise StopWithProgress(
                        "Marketo's bulk export queue stayed full (1029); the job id is saved and the next "
                        "run resumes it. Check which other integrations run exports at this hour."
                    ) from None
                time.sleep(delay)

    def cancel(self) -> None:
        self.client.call("POST", self._path("cancel"))

    def wait(self, describe: str) -> dict:
        """Poll until Completed; raise with Marketo's errorMsg on Failed/Cancelled, stop on timeout."""
        deadline = time.monotonic() + self.options.job_timeout
        while True:
            status = self.refresh()
            state = status.get("status")
            if state == "Completed":
                return status
            if state in FAILED:
                raise LoaderError(
                    f"Marketo export job {self.export_id} ({describe}) ended {state}: "
                    f"{status.get('errorMsg') or 'no errorMsg given'}. The next run creates a new job."
                )
            if state == "Created":
                self.enqueue()
            fault_point("marketo.export_wait")
            if time.monotonic() >= deadline:
                raise StopWithProgress(
                    f"Marketo export job {self.export_id} ({describe}) is still {state} after "
                    f"{self.options.job_timeout:.0f} s (sources.marketo.job_timeout_seconds). Its id is saved: "
                    "the next run keeps waiting on the same job instead of creating another."
                )
            time.sleep(self.options.poll_interval)

    def download(self, dest: Path) -> tuple[int, str]:
        """Stream the file to `dest`, resuming with Range after a cut, and verify Marketo's SHA-256.

        Returns (bytes, sha256 hex). A 404 right after Completed happens (the file is not yet on the
        file server): it is retried like a cut. On a mismatch the job status (fileChecksum, fileSize) is read
        again before anything else: the status reply can be the wrong one as well as the file, and a file that
        matches the new reply is kept without downloading it again.
        """
        for attempt in range(1, self.options.download_attempts + 1):
            size, digest = self._fetch_resumable(dest)
            if self._matches(size, digest):
                return size, digest
            self.refresh()
            if self._matches(size, digest):
                return size, digest
            log.warning("export %s: SHA-256 mismatch (attempt %d), downloading again", self.export_id, attempt)
            dest.unlink(missing_ok=True)
        raise LoaderError(
            f"Marketo export {self.export_id}: the file's SHA-256 never matched fileChecksum after "
            f"{self.options.download_attempts} downloads; nothing was loaded from it. Run again; if it "
            "persists, the file is corrupt on Marketo's side (open a support case with the export id)."
        )

    def _matches(self, size: int, digest: str) -> bool:
        """Whether a downloaded file is the one the last status reply describes (no checksum: taken as is)."""
        expected = str(self.status.get("fileChecksum") or "").removeprefix("sha256:").lower()
        size_expected = self.status.get("fileSize")
        if size_expected is not None and size != int(size_expected):
            log.warning("export %s: got %d bytes, status said %s", self.export_id, size, size_expected)
        return not expected or digest == expected

    def _fetch_resumable(self, dest: Path) -> tuple[int, str]:
        delays = backoff_delays(self.options.download_attempts * 2, 0.5 if self.options.poll_interval else 0.01, 30.0)
        dest.parent.mkdir(parents=True, exist_ok=True)
        while True:
            have = dest.stat().st_size if dest.exists() else 0
            headers = {"Range": f"bytes={have}-"} if have else {}
            try:
                resp = self.client.stream(self._path("file"), headers=headers)
                if resp.status_code == 416:  # we already hold every byte
                    resp.close()
                    break
                if resp.status_code in (404, 429) or resp.status_code >= 500:
                    resp.close()
                    raise requests.ConnectionError(f"HTTP {resp.status_code}")
                if resp.status_code not in (200, 206):
                    raise LoaderError(
                        f"Marketo export {self.export_id} file: HTTP {resp.status_code} {resp.text[:200]}"
                    )
                mode = "ab" if resp.status_code == 206 else "wb"  # 200 means the server restarted from 0
                with resp, open(dest, mode) as out:
                    for chunk in resp.iter_content(CHUNK):
                        out.write(chunk)
                        out.flush()
                        fault_point("marketo.download")
                expected_len = resp.headers.get("Content-Length")
                got = dest.stat().st_size - (have if mode == "ab" else 0)
                if expected_len is not None and got < int(expected_len):
                    raise requests.ConnectionError(f"body cut at {got} of {expected_len} bytes")
                break
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as exc:
                delay = next(delays, None)
                if delay is None:
                    raise LoaderError(
                        f"Marketo export {self.export_id}: download kept failing ({exc}); "
                        "the job id is saved, run again to resume"
                    ) from exc
                log.info("export %s: %s; resuming in %.2fs", self.export_id, exc, delay)
                time.sleep(delay)
        digest = hashlib.sha256()
        with open(dest, "rb") as f:
            while block := f.read(CHUNK * 8):
                digest.update(block)
        return dest.stat().st_size, digest.hexdigest()


# ------------------------------------------------------------------------ parse
def arrow_types(describe: list[dict]) -> dict[str, pa.DataType]:
    """REST field name -> Arrow type from leads/describe.json (REST names only; SOAP names ignored)."""
    types = {}
    for field in describe:
        rest = (field.get("rest") or {}).get("name")
        if rest:
            types[rest] = ARROW_TYPES.get(str(field.get("dataType")), pa.string())
    types["id"] = pa.int64()
    return types


def read_csv_batches(
    path: Path, batch_rows: int = 1 << 17, rejects: list[dict] | None = None
) -> Iterator[pa.RecordBatch]:
    """Marketo CSV as string columns: RFC-4180 quoting with newlines inside values, the literal `null`
    for null (a quoted "null" is the text), CRLF or LF. Everything is read as text first so a bad value can
    be quarantined by row. DuckDB parses the file (in parallel, streaming batches of `batch_rows`): values
    with newlines keep pyarrow's streaming reader on one core, at half the speed.

    A record DuckDB refuses (a line ending unlike the file's others, a field count unlike the header's,
    invalid UTF-8) is read again on its own with Python's csv module: one that then has the header's fields
    comes last, in a batch of its own; the others are appended to `rejects` (`line`, `reason`, `raw`, and
    `id` when the record starts with one) for the caller to quarantine. Without `rejects`, the first
    refused record raises."""
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:  # a BOM is not part of the name
        header = next(csv.reader(f), None)
    if not header:
        if path.stat().st_size == 0:
            return  # Marketo sends an empty file for an export without records
        raise LoaderError(f"Marketo bulk file {path} is empty: no header row")
    if "id" not in header and rejects is not None:
        _headerless(path, rejects)
        return
    columns = ", ".join(f"{_sql_text(name)}: 'VARCHAR'" for name in header)
    sql = (
        f"select * from read_csv({_sql_text(str(path))}, header = true, auto_detect = false, "
        f"columns = {{{columns}}}, delim = ',', quote = '\"', escape = '\"', nullstr = 'null', "
        "allow_quoted_nulls = false, strict_mode = true" + (", store_rejects = true)" if rejects is not None else ")")
    )
    schema = pa.schema([pa.field(name, pa.string()) for name in header])  # DuckDB may hand out string views
    con = duckdb.connect()
    yielded = False
    try:
        result = con.sql(sql)
        # to_arrow_reader in the locked DuckDB (2.0); fetch_record_batch, its older name, in older releases
        open_reader = getattr(result, "to_arrow_reader", None) or result.fetch_record_batch
        for batch in open_reader(batch_rows):
            yielded = True
            yield batch.cast(schema)
        if rejects is not None:
            refused = con.sql(
                "select line, error_type, error_message, csv_line from reject_errors order by line"
            ).fetchall()
            rescued = _reread(refused, header, path, rejects)
            if rescued:
                yield pa.RecordBatch.from_pylist(rescued, schema=schema)
    except duckdb.Error as exc:
        if rejects is None or yielded:
            raise LoaderError(f"Marketo bulk file {path} is not valid CSV: {exc}") from exc
        # DuckDB gives up on some files (record separators that change within the file): Python's csv
        # module reads any of them, one record at a time
        log.warning("Marketo bulk file %s: DuckDB cannot parse it (%s); reading it record by record", path, exc)
        yield from _read_by_record(path, schema, batch_rows, rejects)
    finally:
        con.close()


def _read_by_record(path: Path, schema: pa.Schema, batch_rows: int, rejects: list[dict]) -> Iterator[pa.RecordBatch]:
    """The slow path: every record parsed by Python's csv module (LF, CRLF or CR, quoted newlines); records
    that are not UTF-8 or whose field count is not the header's go to `rejects`."""
    header = schema.names
    rows: list[dict] = []
    with open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
        reader = csv.reader(f)
        next(reader, None)
        for number, fields in enumerate(reader, start=2):
            raw = ",".join(fields)
            problem = None
            if _SURROGATE.search(raw):
                problem = "invalid UTF-8"
            elif len(fields) != len(header):
                problem = f"expected {len(header)} fields, found {len(fields)}"
            if problem:
                shown = raw.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")
                record_id = fields[0] if header[0] == "id" and fields and fields[0].strip().isdigit() else None
                rejects.append(
                    {"line": number, "reason": f"{path.name} record {number}: {problem}", "raw": shown, "id": record_id}
                )
                continue
            rows.append(
                {name: (None if value == "null" else value) for name, value in zip(header, fields, strict=True)}
            )
            if len(rows) >= batch_rows:
                yield pa.RecordBatch.from_pylist(rows, schema=schema)
                rows = []
    if rows:
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


def _headerless(path: Path, rejects: list[dict]) -> None:
    """A file whose first line names no `id` column has no header (or a mangled one): no field can be told
    from another, so every record, the first line included, is quarantined as it stands."""
    with open(path, encoding="utf-8-sig", errors="backslashreplace", newline="") as f:
        for number, fields in enumerate(csv.reader(f), start=1):
            raw = ",".join(fields)
            reason = f"{path.name} record {number}: no header line naming id (the first line is {raw[:80]!r})"
            rejects.append({"line": number, "reason": reason, "raw": raw, "id": None})


def _reread(refused: list[tuple], header: list[str], path: Path, rejects: list[dict]) -> list[dict]:
    """Records DuckDB refused, parsed one by one: those with the header's field count, as rows."""
    rows = []
    seen_lines: set[int] = set()
    for line, error_type, message, raw in refused:
        if line in seen_lines:  # DuckDB reports each wrong field of a record: one quarantined row
            continue
        seen_lines.add(line)
        text = raw or ""
        fields = next(csv.reader(io.StringIO(text.rstrip("\r\n"), newline="")), [])
        if error_type != "INVALID ENCODING" and len(fields) == len(header):
            rows.append(
                {name: (None if value == "null" else value) for name, value in zip(header, fields, strict=True)}
            )
            continue
        reason = f"record {line}: {message}" if error_type != "INVALID ENCODING" else f"record {line}: invalid UTF-8"
        record_id = fields[0] if header[0] == "id" and fields and fields[0].strip().isdigit() else None
        rejects.append({"line": int(line), "reason": f"{path.name} {reason}", "raw": text, "id": record_id})
    return rows


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def type_batch(batch: pa.RecordBatch, types: dict[str, pa.DataType]) -> tuple[pa.Table, pa.Table | None]:
    """Cast string columns to their describe types, vectorized. Rows with a value that does not fit
    its type go to the second table (all columns as text, plus `_rejected_field` and `_rejected_value`)."""
    table = pa.Table.from_batches([batch])
    typed: dict[str, pa.Array] = {}
    bad = pa.array([False] * table.num_rows)
    reasons: list[pa.Array] = []
    for name in table.column_names:
        col = table.column(name).combine_chunks()
        target = types.get(name, pa.string())
        # a NUL byte is no character of any field, and several warehouses cannot store it in text
        nul = pc.fill_null(pc.match_substring(col, "\x00"), False)
        if pc.any(nul).as_py():
            bad = pc.or_(bad, nul)
            reasons.append(pc.if_else(nul, pa.scalar(f"{name}: holds a NUL byte"), pa.scalar(None, pa.string())))
        if target == pa.string() and name != "id":
            typed[name] = col
            continue
        parsed, ok = _cast_column(col, target)
        col_bad = pc.and_(pc.is_valid(col), pc.invert(ok))
        if name == "id":  # a person without an id cannot be merged: quarantine it
            col_bad = pc.or_(col_bad, pc.is_null(col))
        if pc.any(col_bad).as_py():
            bad = pc.or_(bad, col_bad)
            reasons.append(
                pc.if_else(
                    col_bad,
                    pc.binary_join_element_wise(
                        pa.scalar(f"{name}: not a valid {_type_name(target)}: "), pc.fill_null(col, "null"), ""
                    ),
                    pa.scalar(None, pa.string()),
                )
            )
        typed[name] = parsed
    good_table = pa.table(typed)
    if not pc.any(bad).as_py():
        return good_table, None
    reason = reasons[0] if len(reasons) == 1 else pc.binary_join_element_wise(*reasons, "; ", null_handling="skip")
    rejected = table.append_column("_rejected_reason", reason).filter(bad)
    return good_table.filter(pc.invert(bad)), rejected


def _cast_column(col: pa.Array, target: pa.DataType) -> tuple[pa.Array, pa.Array]:
    """(parsed, ok): ok is true where the value is null or parsed cleanly."""
    stripped = pc.utf8_trim_whitespace(col)
    if pa.types.is_integer(target):
        ok = pc.match_substring_regex(stripped, INT_RE)
    elif pa.types.is_floating(target):
        ok = pc.match_substring_regex(stripped, FLOAT_RE)
    elif pa.types.is_boolean(target):
        ok = pc.is_in(pc.utf8_lower(stripped), pa.array(["true", "false", "1", "0"]))
        lowered = pc.utf8_lower(stripped)
        parsed = pc.if_else(ok, pc.is_in(lowered, pa.array(["true", "1"])), pa.scalar(None, pa.bool_()))
        return parsed, pc.fill_null(ok, True)
    elif pa.types.is_timestamp(target):
        parsed = pc.strptime(stripped, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
        parsed = pc.cast(parsed, target)
        return parsed, pc.or_(pc.is_null(col), pc.is_valid(parsed))
    elif pa.types.is_date(target):
        parsed = pc.strptime(stripped, format="%Y-%m-%d", unit="s", error_is_null=True)
        return pc.cast(parsed, target), pc.or_(pc.is_null(col), pc.is_valid(parsed))
    else:
        return pc.cast(col, target), pa.array([True] * len(col))
    ok = pc.fill_null(ok, True)
    cleaned = pc.if_else(ok, stripped, pa.scalar(None, pa.string()))
    return pc.cast(cleaned, target), ok


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "datetime (YYYY-MM-DDThh:mm:ssZ)"
    return {"int64": "integer", "double": "number", "bool": "boolean (true/false)", "date32[day]": "date"}.get(
        str(t), str(t)
    )


class RepeatFilter:
    """The persons of one export file seen so far (sorted ids, with the updatedAt each was first read with).

    Appending a file straight into an empty table is only right if each person is in it once: `first` passes
    each person's first row and holds the repeats back; `newer` then says which repeats must replace it.
    """

    def __init__(self) -> None:
        self.ids = np.empty(0, np.int64)
        self.updated = np.empty(0, np.int64)
        self.held: list[pa.Table] = []

    def first(self, table: pa.Table) -> pa.Table:
        """The rows of a typed table (ids never null) whose person was not seen before."""
        ids = table.column("id").to_numpy()
        unique, first = np.unique(ids, return_index=True)
        pos = np.searchsorted(self.ids, unique)
        if len(self.ids):
            fresh = self.ids[np.minimum(pos, len(self.ids) - 1)] != unique
        else:
            fresh = np.ones(len(unique), bool)
        self.ids = np.insert(self.ids, pos[fresh], unique[fresh])
        self.updated = np.insert(self.updated, pos[fresh], _updated_us(table)[first[fresh]])
        if len(unique) == len(ids) and fresh.all():
            return table
        keep = np.zeros(len(ids), bool)
        keep[first[fresh]] = True
        self.held.append(table.filter(~keep))
        return table.filter(keep)

    def newer(self) -> pa.Table:
        """The held repeats later than their person's first row (a merge then keeps the latest of them)."""
        repeats = pa.concat_tables(self.held)
        pos = np.searchsorted(self.ids, repeats.column("id").to_numpy())
        return repeats.filter(_updated_us(repeats) > self.updated[pos])


def _updated_us(table: pa.Table) -> np.ndarray:
    updated = pc.cast(table.column("updatedAt"), pa.timestamp("us", "UTC")).cast(pa.int64())
    return pc.fill_null(updated, np.iinfo(np.int64).min).to_numpy()
