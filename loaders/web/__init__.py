"""Web tracking events from files in a folder or bucket -> raw_web.page_views, raw_web.form_submits.

Reads newline-delimited JSON (`.jsonl`, `.ndjson`, `.json`), CSV with a header line, and Parquet files,
gzip or not (`.jsonl.gz`, `.csv.gz`, or any file starting with gzip's magic bytes), through dlt's
filesystem source. Other files are skipped and named in the summary. Only files modified since the last
run are listed (incremental on `modification_date`); each event `id` is inserted once (dlt's insert-only merge;
the first delivery stays), so a re-delivered or re-written file adds nothing.

Event type: the record's `event_type` (`page_view` / `form_submit`; `page_views`, `form_submits`,
`pageview`, `formsubmit` also accepted) when present, else the file name (`page_views*`, `form_submits*`).
Columns: the raw contract of SPEC.md; other columns are ignored (and named in the summary). `event_date`
may be ISO 8601 with `Z` or an offset, ISO without offset (taken as UTC), epoch milliseconds, or a Parquet
timestamp; it lands as a UTC timestamp. Each event row also carries `_file_name` (path relative to the
bucket URL) and `_line` (1-based line of the decompressed file; for Parquet, the row number).

A line that cannot be used (bad JSON, wrong CSV field count, a CSV without a header line, bytes that are
not UTF-8, missing id / cookie_id / event_date, unparseable timestamp, an event_date before
EARLIEST_EVENT_DATE or more than MAX_FUTURE_HOURS after the load, unknown event type, an id read before in
the same run with other content) goes to raw_web.rejected_events (`file_name`, `line`, `reason` naming the
field, `raw` = the original line) and the rest of the file loads. Rejections merge on (file_name, line),
so re-reading a file does not repeat them. Every line read is loaded or rejected: the summary says so.

Config (env vars, or the same keys under [sources.web] in .dlt/config.toml / .dlt/secrets.toml):
    SOURCES__WEB__BUCKET_URL    folder path, file:// URL, or s3:// gs:// az:// (abfss://) URL; required
    SOURCES__WEB__FILE_GLOB     glob below the bucket URL (default `**/*`: every file, recursively)
    SOURCES__WEB__BLOCK_MB      decompressed text parsed at once, in MB (default 64)
    SOURCES__WEB__BATCH_ROWS    events gathered per table before handing them to dlt (default 500000)
    SOURCES__WEB__EARLIEST_EVENT_DATE  events before this are rejected (default 2000-01-01: epoch 0 and
                                negative epochs are a tracker's missing value)
    SOURCES__WEB__MAX_FUTURE_HOURS  events later than the load plus this are rejected (default 24)
    SOURCES__WEB__CREDENTIALS__...   bucket credentials, dlt's filesystem names, e.g.
        s3:  ...__AWS_ACCESS_KEY_ID, ...__AWS_SECRET_ACCESS_KEY, ...__REGION_NAME, ...__ENDPOINT_URL
        gs:  ...__PROJECT_ID, ...__CLIENT_EMAIL, ...__PRIVATE_KEY
        az:  ...__AZURE_STORAGE_ACCOUNT_NAME, ...__AZURE_STORAGE_ACCOUNT_KEY
"""

from __future__ import annotations

import json
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.configuration import resolve_configuration
from dlt.common.storages import FilesystemConfiguration
from dlt.common.storages.fsspec_filesystem import FileItemDict, fsspec_from_config
from dlt.sources import DltResource
from dlt.sources.filesystem import filesystem

from loaders.common import LoaderError, Progress
from loaders.web.readers import TABLE_COLUMNS, Block, DateBounds, file_format, read_file
from loaders.web.run_ids import RunIds

__all__ = ["DATASET", "EVENT_TABLES", "WebLoadStats", "web_source"]

DATASET = "raw_web"
EVENT_TABLES: tuple[str, ...] = tuple(TABLE_COLUMNS)


@dataclass
class WebLoadStats:
    """What one run read; the CLI prints it as the summary."""

    files_read: int = 0
    files_by_format: Counter[str] = field(default_factory=Counter)
    files_skipped: list[str] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    repeated: Counter[str] = field(default_factory=Counter)  # copies of an event read before in this run
    rejected: int = 0
    bytes_read: int = 0
    ignored_columns: set[str] = field(default_factory=set)

    @property
    def total_events(self) -> int:
        return sum(self.events.values())


def _event_hints(table_name: str) -> Any:
    # Events are immutable: an id already in the table is skipped, not deleted and re-inserted (dlt's
    # delete-insert de-duplicates the whole staging table with a window function, 5x slower on a first load
    # of 10M events). insert-only does not de-duplicate within a load, so RunIds drops repeats beforehand.
    return dlt.mark.make_hints(
        table_name=table_name,
        write_disposition={"disposition": "merge", "strategy": "insert-only"},
        primary_key="id",
        columns=[
            {"name": "id", "data_type": "text", "nullable": False},
            {"name": "cookie_id", "data_type": "text", "nullable": False},
            {"name": "event_date", "data_type": "timestamp", "timezone": True, "nullable": False},
            {"name": "_line", "data_type": "bigint"},
        ],
    )


_REJECTED_SCHEMA = pa.schema(
    [
        pa.field("file_name", pa.string(), nullable=False),
        pa.field("line", pa.int64(), nullable=False),
        pa.field("reason", pa.string()),
        pa.field("raw", pa.string()),
    ]
)
_REJECTED_HINTS = dict(
    table_name="rejected_events",
    write_disposition="merge",
    primary_key=["file_name", "line"],
    columns=[
        {"name": "file_name", "data_type": "text", "nullable": False},
        {"name": "line", "data_type": "bigint", "nullable": False},
        {"name": "reason", "data_type": "text"},
        {"name": "raw", "data_type": "text"},
    ],
)


@dlt.source(name="web", section="web", max_table_nesting=0)
def web_source(
    bucket_url: str = dlt.config.value,
    file_glob: str = "**/*",
    block_mb: int = 64,
    batch_rows: int = 500_000,
    earliest_event_date: str = "2000-01-01",
    max_future_hours: float = 24.0,
    stats: WebLoadStats | None = None,
    progress: Progress | None = None,
) -> DltResource:
    """Page views, form submits and rejected lines from the event files under `bucket_url`.

    `stats` (filled while the pipeline extracts) and `progress` are for the CLI; both are optional.
    """
    stats = stats if stats is not None else WebLoadStats()
    # Credentials are resolved here, under [sources.web], so one config section holds everything the
    # source needs; the fsspec client is then handed to dlt's filesystem resource.
    fs_config = resolve_configuration(FilesystemConfiguration(bucket_url=bucket_url), sections=("sources", "web"))
    if fs_config.is_local_filesystem:
        folder = FilesystemConfiguration.make_local_path(fs_config.bucket_url)
        if not os.path.isdir(folder):
            raise LoaderError(
                f"the event folder {folder!r} does not exist; check SOURCES__WEB__BUCKET_URL or --bucket-url"
            )
    try:
        fs_client, _ = fsspec_from_config(fs_config)
    except Exception as exc:
        raise LoaderError(
            f"cannot open the event bucket {bucket_url!r}: {exc}; check SOURCES__WEB__BUCKET_URL "
            "and SOURCES__WEB__CREDENTIALS__*"
        ) from exc
    files = filesystem(
        bucket_url=bucket_url,
        credentials=fs_client,
        file_glob=file_glob,
        incremental=dlt.sources.incremental("modification_date"),
    )
    block_bytes = max(1, block_mb) << 20
    bounds = _date_bounds(earliest_event_date, max_future_hours)

    @dlt.transformer(name="events", max_table_nesting=0)
    def events(items: list[FileItemDict]) -> Iterator[Any]:
        # Blocks are parsed in threads (pyarrow releases the GIL) while this thread reads and decompresses
        # the next ones and hands finished blocks to dlt, in file order, so the first copy of an id stays.
        workers = os.cpu_count() or 1
        parsing: deque[Future[Block]] = deque()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="web-parse") as pool:
            for item in items:
                name = item["relative_path"]
                fmt, gzipped = file_format(name)
                if fmt is None:
                    stats.files_skipped.append(name)
                    continue
                stats.files_read += 1
                stats.files_by_format[fmt + (".gz" if gzipped else "")] += 1
                stats.bytes_read += int(item.get("size_in_bytes") or 0)
                with item.open(mode="rb", compression="disable") as stream:
                    for parse in read_file(stream, name, fmt, block_bytes, bounds):
                        parsing.append(pool.submit(parse))
                        while len(parsing) > workers:
                            yield from batches.add(parsing.popleft().result())
                        if progress is not None:
                            progress.tick(
                                f"{stats.files_read} files, {stats.total_events:,} events, "
                                f"{stats.rejected:,} rejected (reading {name})"
                            )
            while parsing:
                yield from batches.add(parsing.popleft().result())
        yield from batches.flush()

    batches = _Batcher(stats, batch_rows)
    return files | events


def _date_bounds(earliest: str, max_future_hours: float) -> DateBounds:
    try:
        first = datetime.fromisoformat(str(earliest).replace("Z", "+00:00"))
    except ValueError as exc:
        raise LoaderError(f"SOURCES__WEB__EARLIEST_EVENT_DATE={earliest!r} is not a date (use 2000-01-01)") from exc
    first = first if first.tzinfo else first.replace(tzinfo=UTC)
    return DateBounds(first, datetime.now(UTC) + timedelta(hours=float(max_future_hours)))


class _Batcher:
    """Gathers the tables of small files into batches of ~`rows` rows: dlt's per-item cost (schema
    inference, hints) is fixed, so a daily file of a few thousand events would otherwise cost more in dlt
    than in parsing.

    dlt calls the transformer once per page of files and may interleave those generators, so pending
    tables are taken (and the list replaced) before a batch is yielded, never cleared after the yield:
    a table added while the batch is with dlt would otherwise be dropped.
    """

    def __init__(self, stats: WebLoadStats, rows: int) -> None:
        self.stats = stats
        self.rows = max(1, rows)
        self.pending: dict[str, list[pa.Table]] = {t: [] for t in TABLE_COLUMNS}
        self.pending_rows: Counter[str] = Counter()
        self.rejected: list[dict[str, Any]] = []
        self.run_ids = {t: RunIds() for t in TABLE_COLUMNS}

    def add(self, block: Block) -> Iterator[Any]:
        self.stats.ignored_columns |= block.ignored_columns
        self.stats.rejected += len(block.rejected)
        self.rejected.extend(block.rejected)
        for table_name, table in block.tables.items():
            new, differs = self.run_ids[table_name].keep_new(table.select(list(TABLE_COLUMNS[table_name])))
            if differs.any():
                self._reject_conflicts(table.filter(differs))
                table, new = table.filter(~differs), new[~differs]
            self.stats.events[table_name] += table.num_rows
            if not new.all():
                self.stats.repeated[table_name] += int((~new).sum())
                table = table.filter(new)
            self.pending[table_name].append(table)
            self.pending_rows[table_name] += table.num_rows
            if self.pending_rows[table_name] >= self.rows:
                yield from self._flush_table(table_name)

    def _reject_conflicts(self, table: pa.Table) -> None:
        """Copies of an event id whose content is not the first copy's: the first stays, these are kept in
        rejected_events (a tracker bug or two sources reusing ids; only a person can tell which is right)."""
        for row in table.to_pylist():
            file_name, line = row.pop("_file_name"), row.pop("_line")
            self.rejected.append(
                {
                    "file_name": file_name,
                    "line": line,
                    "reason": f"id: {row['id']} was read before in this run with other content "
                    "(the first copy is loaded)",
                    "raw": json.dumps(row, default=str, ensure_ascii=False),
                }
            )
        self.stats.rejected += table.num_rows

    def flush(self) -> Iterator[Any]:
        for table_name in TABLE_COLUMNS:
            yield from self._flush_table(table_name)
        rejected, self.rejected = self.rejected, []
        # Written even when empty (once files were read) so raw_web.rejected_events always exists for dbt.
        if rejected or self.stats.files_read:
            table = pa.Table.from_pylist(rejected, schema=_REJECTED_SCHEMA)
            yield dlt.mark.with_hints(table, dlt.mark.make_hints(**_REJECTED_HINTS), create_table_variant=True)

    def _flush_table(self, table_name: str) -> Iterator[Any]:
        tables, self.pending[table_name] = self.pending[table_name], []
        self.pending_rows[table_name] = 0
        if tables:
            yield dlt.mark.with_hints(pa.concat_tables(tables), _event_hints(table_name), create_table_variant=True)
