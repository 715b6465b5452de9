"""The bulk file's parse helpers on their own (the loader tests run them against the emulator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from loaders.common import LoaderError
from loaders.marketo.bulk import RepeatFilter, read_csv_batches

DAY = datetime(2024, 3, 1, tzinfo=UTC)


def batch(ids: list[int], days: list[int]) -> pa.Table:
    updated = [DAY + timedelta(days=d) for d in days]
    return pa.table({"id": pa.array(ids, pa.int64()), "updatedAt": pa.array(updated, pa.timestamp("us", "UTC"))})


def test_repeat_filter_passes_first_rows_and_finds_newer_repeats_across_batches():
    repeats = RepeatFilter()
    assert repeats.first(batch([3, 1, 2, 1], [1, 1, 1, 2])).column("id").to_pylist() == [3, 1, 2]
    assert repeats.first(batch([5, 2, 4, 3], [1, 0, 1, 2])).column("id").to_pylist() == [5, 4]
    assert repeats.first(batch([6, 7], [0, 0])).column("id").to_pylist() == [6, 7]
    # 1 and 3 came again with a later updatedAt; 2's repeat is older than its first row
    assert sorted(repeats.newer().column("id").to_pylist()) == [1, 3]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_read_csv_batches_keeps_marketo_quoting_nulls_and_newlines(tmp_path, newline):
    rows = [
        "id,company,comments",
        '1,"Acme ""Rockets"", Inc.",null',
        '2,"null",""',
        '3,Beta,"two' + newline + 'lines, one value"',
        "4,,x\u2028y",
    ]
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbf" + newline.join(rows).encode() + newline.encode())  # with a byte-order mark
    table = pa.Table.from_batches(list(read_csv_batches(path, batch_rows=2)))
    assert table.schema.types == [pa.string()] * 3
    assert table.to_pylist() == [
        {"id": "1", "company": 'Acme "Rockets", Inc.', "comments": None},
        {"id": "2", "company": "null", "comments": ""},  # quoted null is the text
        {"id": "3", "company": "Beta", "comments": "two" + newline + "lines, one value"},
        {"id": "4", "company": "", "comments": "x\u2028y"},
    ]


def test_read_csv_batches_rereads_refused_records_and_hands_back_the_unreadable(tmp_path):
    path = tmp_path / "export.csv"
    # a CRLF record in an LF file is read; a record with a field too many, and one with invalid UTF-8, are not
    path.write_bytes(b'id,company\n1,Acme\n2,"Be\nta"\r\n3,Gamma,extra\n4,D\xffelta\n5,Eps\n')
    rejects: list[dict] = []
    table = pa.Table.from_batches(list(read_csv_batches(path, rejects=rejects)))
    assert sorted(table.to_pylist(), key=lambda r: r["id"]) == [
        {"id": "1", "company": "Acme"},
        {"id": "2", "company": "Be\nta"},
        {"id": "5", "company": "Eps"},
    ]
    # DuckDB numbers records, not lines: the header is 1, a record with a quoted newline counts once
    assert [(r["line"], r["id"]) for r in rejects] == [(4, "3"), (5, "4")]
    assert "invalid UTF-8" in rejects[1]["reason"] and "export.csv" in rejects[0]["reason"]


def test_read_csv_batches_without_a_rejects_list_names_the_file_of_a_malformed_row(tmp_path):
    path = tmp_path / "broken.csv"
    path.write_text("id,company\n1,Acme\n2,Beta,extra\n")
    with pytest.raises(LoaderError, match="broken.csv is not valid CSV"):
        list(read_csv_batches(path))
