"""Event files -> Arrow tables in the raw contract, plus the lines that could not be used.

The fast path hands whole blocks (a few tens of MB of text, or a Parquet row group batch) to pyarrow and
validates columns with Arrow compute; no Python object is made per event. Only a block that pyarrow refuses
(a broken JSON line, a CSV row with the wrong field count, JSON values whose type changes between lines) is
re-read line by line, to find and reject exactly the bad lines and keep the others.

Line numbers are 1-based lines of the decompressed file (the CSV header is line 1); for Parquet, `line` is
the 1-based row number in the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.parquet as pq

PAGE_VIEW_COLUMNS: tuple[str, ...] = (
    "id",
    "cookie_id",
    "event_date",
    "current_page_raw",
    "referrer_page_raw",
    "page_title",
    "ip_address",
    "user_agent_string",
)
FORM_SUBMIT_COLUMNS: tuple[str, ...] = (
    "id",
    "cookie_id",
    "event_date",
    "current_page_raw",
    "email",
    "form_identifier",
    "ip_address",
    "user_agent_string",
)
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "page_views": PAGE_VIEW_COLUMNS,
    "form_submits": FORM_SUBMIT_COLUMNS,
}
KNOWN_COLUMNS = frozenset(PAGE_VIEW_COLUMNS) | frozenset(FORM_SUBMIT_COLUMNS) | {"event_type"}
REQUIRED_COLUMNS = frozenset({"id", "cookie_id", "event_date"})

# Accepted spellings of `event_type`, compared lower-cased and trimmed.
EVENT_TYPES: dict[str, str] = {
    "page_view": "page_views",
    "page_views": "page_views",
    "pageview": "page_views",
    "form_submit": "form_submits",
    "form_submits": "form_submits",
    "formsubmit": "form_submits",
}
# A file whose name starts with one of these holds that event type when a record has no `event_type`.
FILE_NAME_PREFIXES: tuple[tuple[str, str], ...] = (
    ("page_view", "page_views"),
    ("form_submit", "form_submits"),
)

FORMATS: dict[str, str] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

EVENT_DATE_TYPE = pa.timestamp("us", tz="UTC")
# id, cookie_id and event_date are validated non-null, and saying so in the Arrow schema keeps dlt's
# not-null column hints and the data in agreement.
_SCHEMAS: dict[str, pa.Schema] = {
    name: pa.schema(
        [
            pa.field(
                c,
                EVENT_DATE_TYPE if c == "event_date" else pa.string(),
                nullable=c not in ("id", "cookie_id", "event_date"),
            )
            for c in columns
        ]
        + [pa.field("_file_name", pa.string()), pa.field("_line", pa.int64())]
    )
    for name, columns in TABLE_COLUMNS.items()
}
_NOT_BLANK = np.ones(256, dtype=bool)
_NOT_BLANK[[9, 10, 13, 32]] = False
_EPOCH_MILLIS = re.compile(r"^-?\d{1,15}(\.\d*)?$")
_SURROGATE = re.compile("[\udc80-\udcff]")
READ_PIECE = 1 << 16


@dataclass
class Block:
    """What one block of a file gave: contract tables by name, and rejected lines as rows."""

    tables: dict[str, pa.Table] = field(default_factory=dict)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: set[str] = field(default_factory=set)


def file_format(name: str) -> tuple[str | None, bool]:
    """(format, gzipped) from a file name: `page_views_2024-03-01.jsonl.gz` -> ("jsonl", True)."""
    lower = name.lower()
    gzipped = lower.endswith(".gz")
    if gzipped:
        lower = lower[:-3]
    for ext, fmt in FORMATS.items():
        if lower.endswith(ext):
            return fmt, gzipped
    return None, gzipped


def event_table_from_file_name(name: str) -> str | None:
    base = name.rsplit("/", 1)[-1].lower()
    for prefix, table in FILE_NAME_PREFIXES:
        if base.startswith(prefix):
            return table
    return None


@dataclass(frozen=True)
class DateBounds:
    """Event times outside [earliest, latest] are quarantined: epoch 0 or a negative epoch is a tracker's
    missing value, and a time far ahead of the load a client clock gone wrong; either would make sessions
    and touchpoints at a time nobody visited."""

    earliest: datetime
    latest: datetime

    def problem(self, event_date: pa.ChunkedArray) -> pa.ChunkedArray:
        early = pc.less(event_date, pa.scalar(self.earliest, EVENT_DATE_TYPE))
        late = pc.greater(event_date, pa.scalar(self.latest, EVENT_DATE_TYPE))
        return pc.or_(pc.fill_null(early, False), pc.fill_null(late, False))

    def describe(self, value: datetime) -> str:
        shown = value.strftime("%Y-%m-%dT%H:%M:%SZ")
        if value < self.earliest:
            return f"event_date: {shown} is before {self.earliest:%Y-%m-%d} (SOURCES__WEB__EARLIEST_EVENT_DATE)"
        return f"event_date: {shown} is in the future (more than SOURCES__WEB__MAX_FUTURE_HOURS after the load)"


def read_file(
    stream: IO[bytes], file_name: str, fmt: str, block_bytes: int = 64 << 20, bounds: DateBounds | None = None
) -> Iterator[Callable[[], Block]]:
    """Read one event file block by block; each block comes as a function that parses it into a Block, so
    the caller can parse blocks in threads (pyarrow releases the GIL) while this reads the next ones. Gzip is
    recognized by its magic bytes, whatever the name says (an object store may serve a `.gz` already
    decompressed, or a gzip-encoded `.jsonl`). A file that cannot be read to the end (corrupt gzip or
    Parquet) gives one rejected row where reading stopped, so the failure is recorded rather than lost."""
    default_table = event_table_from_file_name(file_name)
    try:
        raw = _maybe_gunzip(stream)
        if fmt == "parquet":
            for block in _read_parquet(raw, file_name, default_table, bounds):
                yield partial(_given, block)
        elif fmt == "jsonl":
            for line, chunk in _text_blocks(raw, block_bytes):
                yield partial(_jsonl_block, chunk, line, file_name, default_table, bounds)
        else:
            yield from _read_csv(raw, file_name, default_table, block_bytes, bounds)
    except _Unreadable as exc:
        reason = f"file: unreadable from here on ({exc.cause})"
        yield partial(_given, Block(rejected=[_reject(file_name, exc.line, reason, "")]))


def _given(block: Block) -> Block:
    return block


class _Unreadable(Exception):
    def __init__(self, line: int, cause: Exception) -> None:
        super().__init__(f"line {line}: {cause}")
        self.line = line
        self.cause = cause


class _Prefixed(io.RawIOBase):
    """A non-seekable stream with its first bytes, already read to sniff the format, put back in front."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            n = min(len(buffer), len(self.head))
            buffer[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _maybe_gunzip(stream: IO[bytes]) -> IO[bytes]:
    try:
        head = stream.read(2)
    except OSError as exc:
        raise _Unreadable(1, exc) from exc
    if stream.seekable():
        stream.seek(0)
        rest: IO[bytes] = stream
    else:
        rest = io.BufferedReader(_Prefixed(head, stream))
    return gzip.GzipFile(fileobj=rest, mode="rb") if head == b"\x1f\x8b" else rest  # type: ignore[return-value]


def _text_blocks(stream: IO[bytes], block_bytes: int, first_line: int = 1) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes) blocks that end on a line boundary; the last one gets a newline too.

    Read in pieces of at most READ_PIECE bytes: a stream that breaks (a gzip file cut short) has given every
    whole line before the break, and only the rest is reported unreadable."""
    carry = b""
    line = first_line
    while True:
        pieces: list[bytes] = []
        size = 0
        failure: BaseException | None = None
        while size < block_bytes:
            try:
                piece = stream.read(min(READ_PIECE, block_bytes - size))
            except (OSError, EOFError) as exc:
                failure = exc
                break
            if not piece:
                break
            pieces.append(piece)
            size += len(piece)
        data = carry + b"".join(pieces)
        cut = data.rfind(b"\n") + 1
        if failure is not None:
            if cut:
                yield line, data[:cut]
                line += data[:cut].count(b"\n")
            raise _Unreadable(line, failure)
        if not pieces:
            break
        if cut == 0:
            carry = data
            continue
        chunk, carry = data[:cut], data[cut:]
        yield line, chunk
        line += chunk.count(b"\n")
    if carry:
        yield line, carry + b"\n"


class _Lines:
    """Where the lines of a newline-terminated chunk are. Counting newlines is cheap; positions and blank
    lines (which pyarrow skips) are only worked out when a parse does not give one row per line or when a
    rejected row needs its original text."""

    def __init__(self, chunk: bytes, first_line: int) -> None:
        self.chunk = chunk
        self.first_line = first_line
        self.count = chunk.count(b"\n")
        self._bounds: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(starts, ends, indexes of non-blank lines)."""
        if self._bounds is None:
            buf = np.frombuffer(self.chunk, dtype=np.uint8)
            ends = np.flatnonzero(buf == 10)
            starts = np.concatenate(([0], ends[:-1] + 1))
            solid = np.concatenate(([0], np.cumsum(_NOT_BLANK[buf], dtype=np.int64)))
            self._bounds = starts, ends, np.flatnonzero(solid[ends] != solid[starts])
        return self._bounds

    def solid(self, rows: int) -> np.ndarray:
        """Indexes of the non-blank lines, given that a parse found `rows` rows."""
        return np.arange(self.count) if rows == self.count else self.bounds()[2]

    def text(self, index: int) -> str:
        """The line as text; bytes that are not UTF-8 shown as \\xNN (for a rejected line's `raw`)."""
        starts, ends, _ = self.bounds()
        return self.chunk[starts[index] : ends[index]].decode("utf-8", errors="backslashreplace").rstrip("\r")

    def strict_text(self, index: int) -> str:
        """The line as text; raises UnicodeDecodeError when it is not UTF-8."""
        starts, ends, _ = self.bounds()
        return self.chunk[starts[index] : ends[index]].decode("utf-8").rstrip("\r")


def _jsonl_block(
    chunk: bytes, first_line: int, file_name: str, default_table: str | None, bounds: DateBounds | None = None
) -> Block:
    lines = _Lines(chunk, first_line)
    # One pyarrow block per chunk infers one type per column for the whole chunk (several blocks can
    # disagree and fail); one thread, because on small machines pyarrow's threads were slower (1.45 s vs
    # 2.3 s per million page views on 2 cores) and dlt's normalize and load threads need the cores.
    try:
        table = pajson.read_json(
            io.BytesIO(chunk), read_options=pajson.ReadOptions(block_size=len(chunk) + 1, use_threads=False)
        )
    except pa.ArrowInvalid:
        table = None
    if table is not None:
        solid = lines.solid(table.num_rows)
        if table.num_rows == len(solid):
            return _to_contract(
                table,
                first_line + solid,
                lambda rows: [lines.text(solid[r]) for r in rows],
                file_name,
                default_table,
                bounds,
            )
    return _jsonl_block_by_line(lines, file_name, default_table, bounds)


def _jsonl_block_by_line(
    lines: _Lines, file_name: str, default_table: str | None, bounds: DateBounds | None = None
) -> Block:
    records: list[dict[str, Any]] = []
    kept: list[int] = []
    rejected: list[dict[str, Any]] = []
    for i in lines.bounds()[2]:
        line = lines.first_line + int(i)
        try:
            text = lines.strict_text(i)
        except UnicodeDecodeError as exc:
            rejected.append(_reject(file_name, line, _utf8_reason(exc), lines.text(i)))
            continue
        try:
            record = json.loads(text)
        except ValueError as exc:
            rejected.append(_reject(file_name, line, f"invalid JSON: {exc}", text))
            continue
        if not isinstance(record, dict):
            rejected.append(_reject(file_name, line, "invalid JSON: not an object", text))
            continue
        records.append(record)
        kept.append(int(i))
    kept_arr = np.asarray(kept, dtype=np.int64)
    block = _to_contract(
        _records_to_table(records),
        lines.first_line + kept_arr,
        lambda rows: [lines.text(kept_arr[r]) for r in rows],
        file_name,
        default_table,
        bounds,
    )
    block.rejected = rejected + block.rejected
    return block


def _records_to_table(records: list[dict[str, Any]]) -> pa.Table:
    """Python records -> a table of strings: values whose JSON type varies between lines (an epoch number
    here, an ISO string there) must share one column type; validation parses them afterwards."""
    names: dict[str, None] = {}
    for r in records:
        names.update(dict.fromkeys(r))
    columns = {name: pa.array([_as_text(r.get(name)) for r in records], type=pa.string()) for name in names}
    return pa.table(columns) if columns else pa.table({"id": pa.array([], pa.string())})


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) and not value.is_integer() else str(int(value))
    return json.dumps(value, ensure_ascii=False, default=str)


def _read_csv(
    stream: IO[bytes], file_name: str, default_table: str | None, block_bytes: int, bounds: DateBounds | None = None
) -> Iterator[Callable[[], Block]]:
    try:
        header = stream.readline()
    except (OSError, EOFError) as exc:
        raise _Unreadable(1, exc) from exc
    if not header.strip():
        return
    header_names = next(csv.reader([header.decode("utf-8", errors="replace").lstrip("\ufeff")]))
    if not REQUIRED_COLUMNS & {n.strip().lower() for n in header_names}:
        # no header: the first line is data, and no column can be told from another
        yield partial(_headerless, header, 1, file_name)
        for first_line, chunk in _text_blocks(stream, block_bytes, first_line=2):
            yield partial(_headerless, chunk, first_line, file_name)
        return
    # Everything as text: ids and epoch millis must not become numbers, or blocks could disagree on types.
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in header_names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        check_utf8=False,  # _to_contract rejects the rows that are not UTF-8, keeping the others
    )
    for first_line, chunk in _text_blocks(stream, block_bytes, first_line=2):
        yield partial(_csv_block, header, header_names, convert, chunk, first_line, file_name, default_table, bounds)


def _headerless(chunk: bytes, first_line: int, file_name: str) -> Block:
    lines = _Lines(chunk if chunk.endswith(b"\n") else chunk + b"\n", first_line)
    reason = f"CSV: no header line (the first line names none of {', '.join(sorted(REQUIRED_COLUMNS))})"
    return Block(rejected=[_reject(file_name, first_line + int(i), reason, lines.text(i)) for i in lines.bounds()[2]])


def _csv_block(
    header: bytes,
    header_names: list[str],
    convert: pacsv.ConvertOptions,
    chunk: bytes,
    first_line: int,
    file_name: str,
    default_table: str | None,
    bounds: DateBounds | None = None,
) -> Block:
    lines = _Lines(chunk, first_line)
    try:
        table = pacsv.read_csv(
            io.BytesIO(header + chunk),
            convert_options=convert,
            read_options=pacsv.ReadOptions(block_size=len(chunk) + len(header) + 1, use_threads=False),
        )
    except pa.ArrowInvalid:
        table = None
    solid = lines.solid(table.num_rows) if table is not None else None
    # A quoted field with a newline makes rows and lines disagree: the line-by-line reader handles it.
    if table is not None and solid is not None and table.num_rows == len(solid):
        return _to_contract(
            table,
            first_line + solid,
            lambda rows: [lines.text(solid[r]) for r in rows],
            file_name,
            default_table,
            bounds,
        )
    return _csv_block_by_line(header_names, chunk, first_line, file_name, default_table, bounds)


def _csv_block_by_line(
    header_names: list[str],
    chunk: bytes,
    first_line: int,
    file_name: str,
    default_table: str | None,
    bounds: DateBounds | None = None,
) -> Block:
    # bytes that are not UTF-8 become lone surrogates, found per record below
    text_lines = chunk.decode("utf-8", errors="surrogateescape").splitlines(keepends=True)
    reader = csv.reader(text_lines)
    records: list[dict[str, Any]] = []
    lines: list[int] = []
    raws: list[str] = []
    rejected: list[dict[str, Any]] = []
    consumed = 0
    for row in reader:
        start = consumed
        consumed = reader.line_num
        raw = "".join(text_lines[start:consumed]).rstrip("\r\n")
        line = first_line + start
        if not row or not raw.strip():
            continue
        if _SURROGATE.search(raw):
            shown = raw.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="backslashreplace")
            rejected.append(_reject(file_name, line, "invalid UTF-8", shown))
            continue
        if len(row) != len(header_names):
            rejected.append(_reject(file_name, line, f"CSV: expected {len(header_names)} fields, got {len(row)}", raw))
            continue
        records.append({n: (v if v != "" else None) for n, v in zip(header_names, row, strict=True)})
        lines.append(line)
        raws.append(raw)
    block = _to_contract(
        _records_to_table(records),
        np.asarray(lines, dtype=np.int64),
        lambda rows: [raws[r] for r in rows],
        file_name,
        default_table,
        bounds,
    )
    block.rejected = rejected + block.rejected
    return block


def _read_parquet(
    stream: IO[bytes], file_name: str, default_table: str | None, bounds: DateBounds | None = None
) -> Iterator[Block]:
    row = 1
    try:
        # ParquetFile needs a seekable file; gzip streams and some remote files are not.
        source: Any = stream if stream.seekable() else io.BytesIO(stream.read())
        parquet = pq.ParquetFile(source)
        for batch in parquet.iter_batches(batch_size=1_000_000):
            table = pa.Table.from_batches([batch])
            lines = np.arange(row, row + table.num_rows, dtype=np.int64)

            def raw_of(rows: np.ndarray, t: pa.Table = table) -> list[str]:
                return [_row_text(t, int(r)) for r in rows]

            yield _to_contract(table, lines, raw_of, file_name, default_table, bounds)
            row += table.num_rows
    except (OSError, EOFError, pa.ArrowException) as exc:
        yield Block(rejected=[_reject(file_name, row, f"file: unreadable Parquet from this row on ({exc})", "")])


def _utf8_reason(exc: UnicodeDecodeError) -> str:
    return f"invalid UTF-8: byte 0x{exc.object[exc.start]:02x} at byte {exc.start} of the line"


def _row_text(table: pa.Table, row: int) -> str:
    """One row of a table as JSON, for a rejected row's `raw` (bytes that are not UTF-8 as \\xNN)."""
    values = {}
    for name in table.column_names:
        column = table.column(name)
        value = column[row]
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            data = value.cast(pa.binary()).as_py()
            values[name] = None if data is None else data.decode("utf-8", errors="backslashreplace")
        else:
            values[name] = value.as_py()
    return json.dumps(values, default=str, ensure_ascii=False)


def _invalid_utf8(table: pa.Table) -> tuple[pa.Table, np.ndarray, list[str | None]]:
    """Rows with a text value that is not UTF-8 (pyarrow's JSON and Parquet readers do not check): the
    table with those values nulled (text functions refuse them), a mask of the rows, and the first such
    column of each row."""
    bad = np.zeros(table.num_rows, dtype=bool)
    where: list[str | None] = [None] * table.num_rows
    for index, name in enumerate(table.column_names):
        column = table.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        values = column.cast(pa.large_binary()).to_pylist()
        col_bad = np.zeros(table.num_rows, dtype=bool)
        for r, data in enumerate(values):
            if data is None:
                continue
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                col_bad[r] = True
                where[r] = where[r] or name
        bad |= col_bad
        cleaned = pa.array([None if b else v for v, b in zip(values, col_bad, strict=True)], pa.large_binary())
        table = table.set_column(index, name, cleaned.cast(column.type))
    return table, bad, where


def _reject(file_name: str, line: int, reason: str, raw: str) -> dict[str, Any]:
    return {"file_name": file_name, "line": line, "reason": reason, "raw": raw}


def _text_column(table: pa.Table, name: str) -> pa.ChunkedArray:
    """A column as text with empty strings as null: CSV cannot tell "" from missing, so every
    format lands "no value" the same way."""
    if name not in table.column_names:
        return pa.chunked_array([pa.nulls(table.num_rows, pa.string())])
    column = table.column(name)
    if not pa.types.is_string(column.type):
        if (
            pa.types.is_large_string(column.type)
            or pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_boolean(column.type)
        ):
            column = column.cast(pa.string())
        else:
            column = pa.chunked_array([pa.array([_as_text(v) for v in column.to_pylist()], pa.string())])
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def to_utc(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """event_date -> timestamp[us, UTC]; null where missing or unparseable.

    Accepts ISO 8601 with `Z` or an offset (converted to UTC), ISO without offset (taken as UTC), epoch
    milliseconds (number or digits), and Parquet timestamps (naive ones taken as UTC)."""
    t = column.type
    if pa.types.is_timestamp(t):
        return (
            column.cast(pa.timestamp("us", tz=t.tz)).cast(EVENT_DATE_TYPE)
            if t.tz
            else pc.assume_timezone(column.cast(pa.timestamp("us")), "UTC")
        )
    if pa.types.is_date(t):
        return pc.assume_timezone(column.cast(pa.timestamp("us")), "UTC")
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return _millis_to_ts(column)
    text = pc.utf8_trim_whitespace(_text_column(pa.table({"v": column}), "v"))
    try:
        # Fast path for the common case: every value carries Z or an offset.
        return text.cast(EVENT_DATE_TYPE)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    numeric = pc.fill_null(pc.match_substring_regex(text, _EPOCH_MILLIS.pattern), False)
    millis = _millis_to_ts(pc.if_else(numeric, text, pa.scalar(None, pa.string())).cast(pa.float64()))
    iso = pd.to_datetime(
        pc.if_else(numeric, pa.scalar(None, pa.string()), text).to_pandas(),
        format="ISO8601",
        utc=True,
        errors="coerce",
    )
    iso_arrow = pa.array(iso.astype("datetime64[us, UTC]"), type=EVENT_DATE_TYPE)
    return pc.if_else(numeric, millis, iso_arrow)


def _millis_to_ts(column: pa.ChunkedArray) -> pa.ChunkedArray:
    micros = pc.multiply(column.cast(pa.float64()), 1000.0)
    in_range = pc.and_(pc.greater(micros, -1e17), pc.less(micros, 1e17))
    micros = pc.if_else(in_range, micros, pa.scalar(None, pa.float64()))
    return pc.round(micros).cast(pa.int64()).cast(EVENT_DATE_TYPE)


def _to_contract(
    table: pa.Table,
    lines: np.ndarray,
    raw_of: Callable[[np.ndarray], list[str]],
    file_name: str,
    default_table: str | None,
    bounds: DateBounds | None = None,
) -> Block:
    """Validate a parsed block column-wise, route rows to page_views / form_submits, reject the rest."""
    n = table.num_rows
    block = Block(ignored_columns=set(table.column_names) - KNOWN_COLUMNS)
    if n == 0:
        return block
    problems: list[tuple[pa.ChunkedArray | pa.Array, Callable[[int], str]]] = []
    # each reader's raw_of shows the row's own bytes (not UTF-8 ones as \\xNN)
    table, not_utf8, not_utf8_column = _invalid_utf8(table)
    if not_utf8.any():
        problems.append((pa.array(not_utf8), lambda i: f"{not_utf8_column[i]}: invalid UTF-8"))

    if "event_type" in table.column_names:
        event_type = pc.utf8_lower(pc.utf8_trim_whitespace(_text_column(table, "event_type")))
    else:
        event_type = pa.chunked_array([pa.nulls(n, pa.string())])
    known = list(EVENT_TYPES)
    target = pc.take(
        pa.array([EVENT_TYPES[k] for k in known] + [None], pa.string()),
        pc.fill_null(pc.index_in(event_type, pa.array(known)), len(known)),
    )
    if default_table is not None:
        target = pc.if_else(pc.is_null(event_type), pa.scalar(default_table), target)
    event_type_values = event_type.to_numpy(zero_copy_only=False) if pc.any(pc.is_null(target)).as_py() else None
    problems.append(
        (
            pc.is_null(target),
            lambda i: (
                f"event_type: unknown value {event_type_values[i]!r}"
                if event_type_values[i] is not None
                else "event_type: missing, and the file name starts with neither page_views nor form_submits"
            ),
        )
    )

    text = {c: _text_column(table, c) for c in KNOWN_COLUMNS - {"event_type", "event_date"}}
    problems.append((pc.is_null(text["id"]), lambda i: "id: missing"))
    problems.append((pc.is_null(text["cookie_id"]), lambda i: "cookie_id: missing"))

    if "event_date" in table.column_names:
        event_date = to_utc(table.column("event_date"))
        bad_date = pc.is_null(event_date)
        raw_dates = table.column("event_date")
    else:
        event_date = pa.chunked_array([pa.nulls(n, EVENT_DATE_TYPE)])
        bad_date = pa.chunked_array([pa.array(np.ones(n, dtype=bool))])
        raw_dates = pa.chunked_array([pa.nulls(n, pa.string())])
    problems.append(
        (
            bad_date,
            lambda i: (
                f"event_date: unparseable timestamp {raw_dates[i].as_py()!r}"
                if raw_dates[i].is_valid and raw_dates[i].as_py() != ""
                else "event_date: missing"
            ),
        )
    )

    if bounds is not None:
        out_of_bounds = bounds.problem(event_date)
        problems.append((out_of_bounds, lambda i: bounds.describe(event_date[i].as_py())))

    bad = np.zeros(n, dtype=bool)
    masks = [np.asarray(pc.fill_null(m, True).to_numpy(zero_copy_only=False), dtype=bool) for m, _ in problems]
    for m in masks:
        bad |= m
    bad_rows = np.flatnonzero(bad)
    if len(bad_rows):
        raws = raw_of(bad_rows)
        for raw, r in zip(raws, bad_rows, strict=True):
            reason = "; ".join(describe(int(r)) for m, (_, describe) in zip(masks, problems, strict=True) if m[r])
            block.rejected.append(_reject(file_name, int(lines[r]), reason, raw))

    line_array = pa.array(lines, pa.int64())
    for name, table_columns in TABLE_COLUMNS.items():
        keep = pc.and_(pc.fill_null(pc.equal(target, name), False), pa.array(~bad))
        count = pc.sum(keep).as_py() or 0
        if count == 0:
            continue
        data = {c: pc.filter(event_date if c == "event_date" else text[c], keep) for c in table_columns}
        data["_file_name"] = pa.repeat(pa.scalar(file_name, pa.string()), count)
        data["_line"] = pc.filter(line_array, keep)
        block.tables[name] = pa.table(data, schema=_SCHEMAS[name])
    return block
