"""Bad input in every file type the loaders read: each row either loads or lands in the quarantine table
with its file, line and reason, and the loader's summary says rows in = loaded + quarantined (asserted
against what the warehouse holds).

Web events (JSONL, CSV, Parquet, gzipped or not) land in raw_web, quarantined lines in raw_web.rejected_events;
Marketo bulk CSV files (served by the emulator as a real instance could send them) land in raw_marketo.leads,
quarantined records in raw_marketo.leads_rejected."""

from __future__ import annotations

import gzip
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from loaders.__main__ import main
from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_leads
from tests.faults.support import Row, Timer, marketo_env, present_rows
from tests.support import query

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
SUMMARY = re.compile(r"rows in = loaded \+ quarantined: ([\d,]+) = ([\d,]+) \+ ([\d,]+)")


def pv(i: int | str, **overrides) -> dict:
    row = {
        "event_type": "page_view",
        "id": f"pv-{i}",
        "cookie_id": f"c-{i}",
        "event_date": f"{DAY}.{int(str(i)[-3:] or 0) if str(i).isdigit() else 0:03d}Z",
        "current_page_raw": f"https://acme.example/p{i}",
        "referrer_page_raw": None,
        "page_title": "t",
    }
    return {**row, **overrides}


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in rows)


def csv_bytes(rows: list[dict], columns: list[str] | None = None) -> bytes:
    frame = pd.DataFrame(rows)
    return frame[columns or list(frame.columns)].to_csv(index=False).encode()


def parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


GOOD = [pv(i) for i in range(1, 4)]


@dataclass
class WebCase:
    name: str
    file: str
    body: bytes
    rows_in: int
    loaded: int
    quarantined: int
    reason: str | None = None  # a quarantined row's reason contains this
    check: str | None = None  # SQL on the warehouse that must return true


def _truncated_gzip() -> bytes:
    whole = gzip.compress(jsonl([pv(i) for i in range(1, 2001)]))
    return whole[: len(whole) * 6 // 10]


WEB_CASES = [
    WebCase(
        "JSONL: a line that is not UTF-8",
        "page_views_a.jsonl",
        jsonl(GOOD)
        + b'{"id": "pv-9", "cookie_id": "c", "event_date": "'
        + DAY.encode()
        + b'Z", "page_title": "\xff"}\n',
        4,
        3,
        1,
        "invalid UTF-8",
    ),
    WebCase(
        "CSV: a line that is not UTF-8",
        "page_views_a.csv",
        csv_bytes(GOOD) + b"page_view,pv-9,c-9," + DAY.encode() + b"Z,https://acme.example/\xfe,,t\n",
        4,
        3,
        1,
        "invalid UTF-8",
    ),
    WebCase(
        "JSONL.gz: gzip cut at 60%",
        "page_views_a.jsonl.gz",
        _truncated_gzip(),
        -1,
        -1,
        1,
        "unreadable from here on",
        "(select count(*) from raw_web.page_views) = (select max(cast(substr(id, 4) as int)) from raw_web.page_views)",
    ),
    WebCase("JSONL: an empty file", "page_views_a.jsonl", b"", 0, 0, 0),
    WebCase("CSV.gz: an empty file", "page_views_a.csv.gz", gzip.compress(b""), 0, 0, 0),
    WebCase("Parquet: an empty (0-byte) file", "page_views_a.parquet", b"", 1, 0, 1, "unreadable Parquet"),
    WebCase("CSV: only a header", "page_views_a.csv", csv_bytes(GOOD)[: csv_bytes(GOOD).index(b"\n") + 1], 0, 0, 0),
    WebCase("CSV: no header line", "page_views_a.csv", csv_bytes(GOOD).split(b"\n", 1)[1], 3, 0, 3, "no header line"),
    WebCase(
        "CSV: columns in another order",
        "page_views_a.csv",
        csv_bytes(GOOD, ["page_title", "event_date", "id", "current_page_raw", "cookie_id", "event_type"]),
        3,
        3,
        0,
        None,
        "(select current_page_raw from raw_web.page_views where id = 'pv-2') = 'https://acme.example/p2'",
    ),
    WebCase(
        "CSV: header without cookie_id",
        "page_views_a.csv",
        csv_bytes(GOOD, ["event_type", "id", "event_date", "current_page_raw"]),
        3,
        0,
        3,
        "cookie_id: missing",
    ),
    WebCase(
        "Parquet: changed schema (id int64, event_date text, an extra column)",
        "page_views_a.parquet",
        parquet(
            pa.table(
                {
                    "id": pa.array([1, 2, 3], pa.int64()),
                    "cookie_id": ["c1", "c2", "c3"],
                    "event_date": [f"{DAY}Z"] * 3,
                    "current_page_raw": ["https://acme.example/"] * 3,
                    "new_field": [1.5, 2.5, 3.5],
                }
            )
        ),
        3,
        3,
        0,
        None,
        "(select count(*) from raw_web.page_views where id in ('1', '2', '3')) = 3",
    ),
    WebCase(
        "Parquet: cookie_id renamed to cookie",
        "page_views_a.parquet",
        parquet(pa.table({"id": ["a", "b"], "cookie": ["c1", "c2"], "event_date": [f"{DAY}Z"] * 2})),
        2,
        0,
        2,
        "cookie_id: missing",
    ),
    WebCase(
        "JSONL: a 1 MB URL",
        "page_views_a.jsonl",
        jsonl([*GOOD, pv(7, current_page_raw="https://acme.example/?q=" + "x" * (1 << 20))]),
        4,
        4,
        0,
        None,
        "(select max(length(current_page_raw)) from raw_web.page_views) > 1048576",
    ),
    WebCase(
        "JSONL: a 100k-character email",
        "form_submits_a.jsonl",
        jsonl([pv(8, event_type="form_submit", email="a" * 100_000 + "@acme.example")]),
        1,
        1,
        0,
        None,
        "(select length(email) from raw_web.form_submits) = 100013",
    ),
    WebCase(
        "JSONL: wrong types (numeric id, text and boolean event_date)",
        "page_views_a.jsonl",
        jsonl([pv(1, id=42), pv(2, event_date="yesterday"), pv(3, event_date=True)]),
        3,
        1,
        2,
        "event_date: unparseable",
        "(select id from raw_web.page_views) = '42'",
    ),
    WebCase(
        "JSONL: event times in the future, at epoch 0, negative",
        "page_views_a.jsonl",
        jsonl(
            [
                *GOOD,
                pv(4, event_date=(NOW + timedelta(days=3)).isoformat()),
                pv(5, event_date=0),
                pv(6, event_date=-86_400_000),
                pv(7, event_date="1969-12-31T00:00:00Z"),
            ]
        ),
        7,
        3,
        4,
        "event_date: 1970-01-01T00:00:00Z is before 2000-01-01",
    ),
    WebCase(
        "JSONL: one event id twice with different content (and once identically)",
        "page_views_a.jsonl",
        jsonl([*GOOD, pv(1, current_page_raw="https://acme.example/other"), pv(2)]),
        5,
        4,
        1,
        "was read before in this run with other content",
        "(select current_page_raw from raw_web.page_views where id = 'pv-1') = 'https://acme.example/p1' "
        "and (select count(*) from raw_web.page_views) = 3",
    ),
]


def _load(argv: list[str], capsys) -> tuple[int, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _summary(out: str) -> tuple[int, int, int]:
    found = SUMMARY.search(out)
    assert found, f"no 'rows in = loaded + quarantined' in the summary:\n{out}"
    rows_in, loaded, quarantined = (int(g.replace(",", "")) for g in found.groups())
    assert rows_in == loaded + quarantined, found.group(0)
    return rows_in, loaded, quarantined


@pytest.mark.parametrize("case", WEB_CASES, ids=[c.name for c in WEB_CASES])
def test_web_bad_input(case, warehouse, tmp_path, matrix, capsys):
    timer = Timer()
    bucket = tmp_path / "bucket"
    bucket.mkdir()
    (bucket / case.file).write_bytes(case.body)
    rc, out = _load(["web", "--bucket-url", str(bucket)], capsys)
    assert rc == 0, out
    rows_in, loaded, quarantined = _summary(out)
    landed = present_rows(warehouse, "raw_web", ("page_views", "form_submits"))
    rejected = (
        query(warehouse, "select file_name, line, reason from raw_web.rejected_events order by line")
        if present_rows(warehouse, "raw_web", ("rejected_events",))
        else []
    )
    assert quarantined == len(rejected) == (case.quarantined if case.quarantined >= 0 else quarantined)
    if case.loaded >= 0:
        assert (rows_in, loaded) == (case.rows_in, case.loaded)
    repeats = len(re.findall(r"repeated within this run", out))
    assert landed == loaded or (repeats and landed < loaded), out
    for file_name, line, reason in rejected:
        assert file_name == case.file and line >= 1 and reason, (file_name, line, reason)
    if case.reason:
        assert any(case.reason in r for _, _, r in rejected), rejected
    if case.check:
        assert query(warehouse, f"select {case.check}")[0][0], case.check
    matrix.add(Row(f"web {case.name}", "each row loaded or quarantined", rows_in, loaded, quarantined, timer.seconds))


MARKETO_START = (NOW - timedelta(days=10)).replace(hour=0, minute=0, second=0)


def _records(body: bytes) -> list[bytes]:
    return body.split(b"\n")


def _add_record(record: bytes) -> callable:
    def rewrite(body: bytes) -> bytes:
        return body + record + b"\n"

    return rewrite


def _mixed_endings(body: bytes) -> bytes:
    lines = body.rstrip(b"\n").split(b"\n")
    return b"".join(line + (b"\r\n" if i % 2 else b"\n") for i, line in enumerate(lines))


def _header_only(body: bytes) -> bytes:
    return body.split(b"\n", 1)[0] + b"\n"


def _no_header(body: bytes) -> bytes:
    return body.split(b"\n", 1)[1]


def _reordered(body: bytes) -> bytes:
    import csv as _csv

    rows = list(_csv.reader(io.StringIO(body.decode(), newline="")))
    order = list(reversed(range(len(rows[0]))))
    out = io.StringIO()
    writer = _csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow([row[i] for i in order])
    return out.getvalue().encode().replace(b'"null"', b"null")


@dataclass
class MarketoCase:
    name: str
    rewrite: callable
    added: int  # records the rewrite adds (or takes away) against numberOfRecords
    loaded: int
    quarantined: int
    reason: str | None = None


PERSONS = 20
MARKETO_CASES = [
    MarketoCase(
        "NUL byte in a field", _add_record(b"990001,nul\x00@acme.example" + b",null" * 0), 1, PERSONS, 1, "NUL"
    ),
    MarketoCase("byte-order mark", lambda b: b"\xef\xbb\xbf" + b, 0, PERSONS, 0),
    MarketoCase("mixed line endings (LF and CRLF)", _mixed_endings, 0, PERSONS, 0),
    MarketoCase(
        "invalid UTF-8 in a record", _add_record(b"990002,bad\xff@acme.example"), 1, PERSONS, 1, "invalid UTF-8"
    ),
    MarketoCase("a record with a field too many", _add_record(b"990003,x@acme.example"), 1, PERSONS, 1, "record"),
    MarketoCase(
        "wrong types (an id that is not a number)",
        _add_record(b"abc,y@acme.example"),
        1,
        PERSONS,
        1,
        "not a valid integer",
    ),
    MarketoCase("an empty file (numberOfRecords 0)", lambda b: b"", -PERSONS, 0, 0),
    MarketoCase("only a header", _header_only, -PERSONS, 0, 0),
    MarketoCase("no header line", _no_header, 0, 0, PERSONS, "no header line"),
    MarketoCase("columns in another order", _reordered, 0, PERSONS, 0),
]


@pytest.mark.parametrize("case", MARKETO_CASES, ids=[c.name for c in MARKETO_CASES])
def test_marketo_bad_input(case, warehouse, matrix, monkeypatch, capsys, tmp_path):
    timer = Timer()
    leads = generate_leads(PERSONS, seed=3, start=MARKETO_START, end=MARKETO_START + timedelta(days=5))
    with MarketoEmulator(leads, workdir=tmp_path / "emu", status_update_seconds=0) as mkto:
        for key, value in marketo_env(mkto, pd.Timestamp(MARKETO_START)).items():
            monkeypatch.setenv(key, value)
        header_fields = None

        def rewrite(body: bytes) -> bytes:
            nonlocal header_fields
            header_fields = body.split(b"\n", 1)[0].count(b",") + 1
            new = case.rewrite(body)
            # an added record gets the header's field count, or one more when that is its point
            if case.added > 0:
                head, _, last = new.rstrip(b"\n").rpartition(b"\n")
                extra = b",extra" if "too many" in case.name else b""
                new = head + b"\n" + last + b",null" * (header_fields - last.count(b",") - 1) + extra + b"\n"
            return new

        mkto.rewrite_next_export = rewrite
        mkto.miscount_next_export = case.added
        rc, out = _load(["marketo"], capsys)
    assert rc == 0, out
    rows_in, loaded, quarantined = _summary(out)
    assert (loaded, quarantined) == (case.loaded, case.quarantined), out
    assert present_rows(warehouse, "raw_marketo", ("leads",)) == loaded
    rejected = (
        query(warehouse, "select _rejected_reason from raw_marketo.leads_rejected")
        if present_rows(warehouse, "raw_marketo", ("leads_rejected",))
        else []
    )
    assert len(rejected) == quarantined
    if case.reason:
        assert all(case.reason in r for (r,) in rejected), rejected
    matrix.add(
        Row(f"Marketo CSV {case.name}", "each row loaded or quarantined", rows_in, loaded, quarantined, timer.seconds)
    )


def test_marketo_emails_as_people_type_them(world, matrix):
    """Upper case, spaces, non-ASCII and 100k characters: landed as Marketo has them, normalized in the marts."""
    timer = Timer()
    marts = dict(query(world.ref2, "select id, email from biz_leads union all select id, email from biz_contacts"))
    ids = [str(i) for i in world.leads1.loc[1:3, "id"]]
    assert marts[ids[0]] == "mixed.case@example.com"
    assert marts[ids[1]] == "josé.müller@bücher.example"
    assert len(marts[ids[2]]) == 100_013
    landed = dict(query(world.ref2, "select cast(id as varchar), email from raw_marketo.leads"))
    assert landed[ids[0]] == "  Mixed.Case@Example.COM "
    matrix.add(
        Row(
            "Marketo emails with upper case, spaces, non-ASCII, 100k characters",
            "landed as sent; marts lower-cased and trimmed",
            3,
            3,
            0,
            timer.seconds,
        )
    )
