"""`python -m loaders web`: real event files in tmp_path, the real dlt pipeline, a temp DuckDB."""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from loaders.__main__ import main
from sandbox.web_events import FORM_SUBMIT_COLUMNS, PAGE_VIEW_COLUMNS, generate_web_events, write_event_files
from tests.support import query
from tests.test_web_events import make_persons


def run_web(folder: Path, *extra: str) -> int:
    return main(["web", "--bucket-url", str(folder), *extra])


def count(warehouse: Path, table: str) -> int:
    return query(warehouse, f"select count(*) from raw_web.{table}")[0][0]


def assert_same_rows(warehouse: Path, table: str, expected: pd.DataFrame) -> None:
    """Loaded rows equal the expected frame both ways (each side EXCEPT the other is empty)."""
    columns = list(expected.columns)
    cols = ", ".join(columns)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        con.register("expected_frame", expected)
        loaded = f"select {cols} from raw_web.{table}"
        wanted = f"select {cols} from expected_frame"
        missing = con.execute(f"{wanted} except all {loaded}").fetchall()
        extra = con.execute(f"{loaded} except all {wanted}").fetchall()
    assert not missing, f"{len(missing)} expected rows not loaded, e.g. {missing[:2]}"
    assert not extra, f"{len(extra)} loaded rows not expected, e.g. {extra[:2]}"


@pytest.fixture(scope="module")
def events() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_web_events(make_persons(80), n_page_views=4_000, seed=11)


@pytest.mark.parametrize(
    ("fmt", "gz", "per_day"),
    [
        ("jsonl", True, True),
        ("jsonl", False, False),
        ("csv", True, False),
        ("parquet", False, False),
    ],
)
def test_loads_every_format_exactly(warehouse, tmp_path, events, capsys, monkeypatch, fmt, gz, per_day):
    page_views, form_submits = events
    # Small batches, so batches fill up in the middle of dlt's pages of files too.
    monkeypatch.setenv("SOURCES__WEB__BATCH_ROWS", "50")
    paths = write_event_files(page_views, form_submits, tmp_path / "events", fmt=fmt, gzip=gz, files_per_day=per_day)

    assert run_web(tmp_path / "events") == 0

    assert_same_rows(warehouse, "page_views", page_views[PAGE_VIEW_COLUMNS])
    assert_same_rows(warehouse, "form_submits", form_submits[FORM_SUBMIT_COLUMNS])
    assert count(warehouse, "rejected_events") == 0
    lineage = query(
        warehouse,
        "select count(distinct _file_name), min(_line), count(*) filter (_line is null) from raw_web.page_views",
    )[0]
    assert lineage[0] == sum(p.name.startswith("page_views") for p in paths)
    assert lineage[1] == (1 if fmt in ("jsonl", "parquet") else 2) and lineage[2] == 0
    out = capsys.readouterr().out
    assert f"{len(paths)} files read" in out
    assert f"raw_web.page_views: {len(page_views):,} events read" in out


def test_second_run_redelivery_and_new_files(warehouse, tmp_path, events, capsys):
    page_views, form_submits = events
    folder = tmp_path / "events"
    write_event_files(page_views, form_submits, folder, fmt="jsonl", files_per_day=False)
    assert run_web(folder) == 0
    loads = query(warehouse, "select count(*) from raw_web._dlt_loads")[0][0]
    capsys.readouterr()

    # Nothing new: no file read, no load package, same rows.
    assert run_web(folder) == 0
    assert "0 files read" in capsys.readouterr().out
    assert query(warehouse, "select count(*) from raw_web._dlt_loads")[0][0] == loads
    assert count(warehouse, "page_views") == len(page_views)

    # The same events delivered again, under another name and as a rewritten file: no new rows.
    shutil.copy(folder / "page_views.jsonl", folder / "page_views_redelivered.jsonl")
    (folder / "form_submits.jsonl").write_bytes((folder / "form_submits.jsonl").read_bytes())
    os.utime(folder / "form_submits.jsonl")
    assert run_web(folder) == 0
    assert "2 files read" in capsys.readouterr().out
    assert count(warehouse, "page_views") == len(page_views)
    assert count(warehouse, "form_submits") == len(form_submits)
    # Events are immutable: the first delivery stays, so dbt's incremental models see no change either.
    assert query(warehouse, "select distinct _file_name, _dlt_load_id from raw_web.page_views") == [
        ("page_views.jsonl", query(warehouse, "select min(load_id) from raw_web._dlt_loads")[0][0])
    ]

    # A new file adds exactly its rows, in a load of its own.
    new_views, new_forms = generate_web_events(make_persons(20, seed=3), n_page_views=700, seed=12)
    write_event_files(new_views, new_forms.iloc[0:0], tmp_path / "batch2", fmt="csv", files_per_day=False)
    shutil.copy(tmp_path / "batch2" / "page_views.csv", folder / "page_views_batch2.csv")
    assert run_web(folder) == 0
    assert count(warehouse, "page_views") == len(page_views) + len(new_views)
    assert_same_rows(warehouse, "page_views", pd.concat([page_views, new_views])[PAGE_VIEW_COLUMNS])
    new_load = query(
        warehouse,
        "select count(*) from raw_web.page_views where _file_name = 'page_views_batch2.csv' "
        "and _dlt_load_id = (select max(load_id) from raw_web._dlt_loads)",
    )[0][0]
    assert new_load == len(new_views)


def test_repeats_within_one_run_load_once(warehouse, tmp_path, events, monkeypatch, capsys):
    page_views, form_submits = events
    # Small batches: the copies land in other batches (and dlt items) than the originals.
    monkeypatch.setenv("SOURCES__WEB__BATCH_ROWS", "50")
    folder = tmp_path / "events"
    write_event_files(page_views, form_submits, folder, fmt="jsonl", files_per_day=False)
    shutil.copy(folder / "page_views.jsonl", folder / "page_views_copy.jsonl")
    lines = (folder / "form_submits.jsonl").read_text().splitlines(keepends=True)
    (folder / "form_submits.jsonl").write_text("".join(lines + lines[:3] + lines[:1]))

    assert run_web(folder) == 0

    assert_same_rows(warehouse, "page_views", page_views[PAGE_VIEW_COLUMNS])
    assert_same_rows(warehouse, "form_submits", form_submits[FORM_SUBMIT_COLUMNS])
    # The first copy read is the one kept (blocks are parsed in threads, but handed on in file order).
    assert query(warehouse, "select max(_line) from raw_web.form_submits") == [(len(lines),)]
    assert query(warehouse, "select distinct _file_name from raw_web.page_views") == [("page_views.jsonl",)]
    out = capsys.readouterr().out
    assert f"{len(page_views):,} repeated" in out and "4 repeated" in out


GOOD = (
    '{"id": "pv-1", "cookie_id": "c1", "event_date": "2024-03-01T10:00:00Z", '
    '"current_page_raw": "https://www.example-b2b.com/"}'
)
BAD_LINES = {
    2: ("{not json", "invalid JSON"),
    3: ('{"cookie_id": "c1", "event_date": "2024-03-01T10:00:00Z"}', "id: missing"),
    4: ('{"id": "pv-4", "event_date": "2024-03-01T10:00:00Z"}', "cookie_id: missing"),
    5: ('{"id": "pv-5", "cookie_id": "c1", "event_date": "last tuesday"}', "event_date: unparseable"),
    6: (
        '{"id": "pv-6", "cookie_id": "c1", "event_date": "2024-03-01T10:00:00Z", "event_type": "click"}',
        "event_type: unknown value 'click'",
    ),
    7: ('{"id": "pv-7", "cookie_id": "c1"}', "event_date: missing"),
    9: ('["an", "array"]', "invalid JSON: not an object"),
}


def test_malformed_lines_are_rejected_and_the_rest_loads(warehouse, tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    lines = [GOOD]
    for number in range(2, 13):
        if number in BAD_LINES:
            lines.append(BAD_LINES[number][0])
        elif number == 8:
            lines.append("")  # a blank line is not an event and not an error; it still counts as a line
        else:
            lines.append(GOOD.replace("pv-1", f"pv-{number}"))
    with gzip.open(folder / "page_views_2024-03-01.jsonl.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    (folder / "form_submits_2024-03-01.csv").write_text(
        "id,cookie_id,event_date,email,form_identifier\n"
        "fs-1,c1,2024-03-01T10:00:05Z,A@B.com,/contact-us#form-1\n"
        "fs-2,c1,2024-03-01T10:00:06Z,too,many,fields\n"
        "fs-3,c1,not a date,a@b.com,/demo#form-1\n"
        "fs-4,c2,1709287200000,c@d.com,/demo#form-1\n"
    )
    (folder / "README.txt").write_text("not an event file")

    assert run_web(folder) == 0

    rejected = query(
        warehouse, "select file_name, line, reason, raw from raw_web.rejected_events order by file_name, line"
    )
    json_rejects = [r for r in rejected if r[0].endswith(".jsonl.gz")]
    assert [r[1] for r in json_rejects] == sorted(BAD_LINES)
    for _, line, reason, raw in json_rejects:
        assert BAD_LINES[line][1] in reason
        assert raw == BAD_LINES[line][0]
    csv_rejects = [r for r in rejected if r[0].endswith(".csv")]
    assert [(r[1], r[3]) for r in csv_rejects] == [
        (3, "fs-2,c1,2024-03-01T10:00:06Z,too,many,fields"),
        (4, "fs-3,c1,not a date,a@b.com,/demo#form-1"),
    ]
    assert "expected 5 fields, got 6" in csv_rejects[0][2]
    assert "event_date: unparseable timestamp 'not a date'" in csv_rejects[1][2]

    loaded = query(warehouse, "select id, _line from raw_web.page_views order by _line")
    assert loaded == [("pv-1", 1), ("pv-10", 10), ("pv-11", 11), ("pv-12", 12)]
    forms = query(warehouse, "select id, email, form_identifier, _line from raw_web.form_submits order by id")
    assert forms == [("fs-1", "A@B.com", "/contact-us#form-1", 2), ("fs-4", "c@d.com", "/demo#form-1", 5)]

    # Re-reading the same bad file does not repeat its rejections.
    os.utime(folder / "page_views_2024-03-01.jsonl.gz")
    assert run_web(folder) == 0
    assert count(warehouse, "rejected_events") == len(rejected)


def test_timestamps_normalize_to_utc_and_event_type_comes_from_record_or_name(warehouse, tmp_path, monkeypatch):
    folder = tmp_path / "events"
    folder.mkdir()
    dated = [
        ("a", "page_view", "2024-03-01T12:00:00+02:00"),
        ("b", "page_view", "2024-03-01T05:00:00.250-05:00"),
        ("c", "page_view", "2024-03-01T10:00:00Z"),
        ("d", "page_view", "2024-03-01 10:00:00"),
        ("e", "page_view", 1709287200000),
        ("f", "form_submit", "1709287200000"),
        ("g", " Form_Submit ", "2024-03-01T10:00:00+0000"),
    ]
    (folder / "mixed.jsonl").write_text(
        "".join(json.dumps({"id": i, "cookie_id": "c", "event_type": t, "event_date": d}) + "\n" for i, t, d in dated)
    )
    (folder / "page_views_tz.csv").write_text(
        "id,cookie_id,event_date\nh,c,2024-03-01T11:30:00+01:30\ni,c,2024-02-29T23:00:00-11:00\n"
    )
    monkeypatch.setenv("SOURCES__WEB__BUCKET_URL", str(folder))
    monkeypatch.setenv("SOURCES__WEB__FILE_GLOB", "*.*")

    assert main(["web"]) == 0

    ten = pd.Timestamp("2024-03-01T10:00:00Z")
    rows = query(warehouse, "select id, event_date from raw_web.page_views order by id")
    assert [(i, pd.Timestamp(t)) for i, t in rows] == [
        ("a", ten),
        ("b", ten + pd.Timedelta(milliseconds=250)),
        ("c", ten),
        ("d", ten),
        ("e", ten),
        ("h", ten),
        ("i", ten),
    ]
    forms = query(warehouse, "select id, event_date from raw_web.form_submits order by id")
    assert [(i, pd.Timestamp(t)) for i, t in forms] == [("f", ten), ("g", ten)]
    assert query(
        warehouse,
        "select data_type from information_schema.columns where table_schema = 'raw_web' "
        "and table_name = 'page_views' and column_name = 'event_date'",
    ) == [("TIMESTAMP WITH TIME ZONE",)]


def test_unconfigured_bucket_is_a_clean_error(warehouse, monkeypatch, capsys):
    monkeypatch.delenv("SOURCES__WEB__BUCKET_URL", raising=False)
    assert main(["web"]) == 2
    assert "SOURCES__WEB__BUCKET_URL" in capsys.readouterr().err


def test_help_shows_the_module_docstring(capsys):
    with pytest.raises(SystemExit):
        main(["web", "--help"])
    out = capsys.readouterr().out
    assert "--bucket-url" in out and "SOURCES__WEB__BUCKET_URL" in out and "rejected_events" in out


def test_awkward_files_load_or_are_recorded(warehouse, tmp_path):
    folder = tmp_path / "events"
    folder.mkdir()
    good = "".join(
        json.dumps({"id": f"g{i}", "cookie_id": "c", "event_date": "2024-03-01T10:00:00Z"}) + "\n" for i in range(50)
    )
    # Cut short in transit: what was written is recorded as unreadable, never dropped silently.
    (folder / "page_views_truncated.jsonl.gz").write_bytes(gzip.compress(good.encode())[:-20])
    # Gzip content under a plain name (an object store that stores gzip without the suffix).
    (folder / "page_views_plain_name.jsonl").write_bytes(gzip.compress(good.replace('"g', '"p').encode()))
    # A quoted field spanning two lines: line numbers still point at the record's first line.
    (folder / "page_views_multiline.csv").write_text(
        'id,cookie_id,event_date,page_title\nm1,c,2024-03-01T10:00:00Z,"two\nlines"\nm2,c,bad-date,x\n'
    )
    # Parquet with numeric ids and a naive timestamp (taken as UTC).
    pd.DataFrame(
        {
            "id": [1, 2],
            "cookie_id": [7, 7],
            "event_date": pd.to_datetime(["2024-03-01 10:00", "2024-03-01 11:00"]),
        }
    ).to_parquet(folder / "page_views_numeric.parquet")

    assert run_web(folder) == 0

    rejected = query(warehouse, "select file_name, line, reason from raw_web.rejected_events order by 1, 2")
    assert rejected[0] == ("page_views_multiline.csv", 4, "event_date: unparseable timestamp 'bad-date'")
    assert rejected[1][:2] == ("page_views_truncated.jsonl.gz", 1)
    assert rejected[1][2].startswith("file: unreadable")
    assert len(rejected) == 2
    assert query(warehouse, "select page_title, _line from raw_web.page_views where id = 'm1'") == [("two\nlines", 2)]
    assert count(warehouse, "page_views") == 50 + 1 + 2
    numeric = query(warehouse, "select id, cookie_id, epoch(event_date) from raw_web.page_views where id in ('1','2')")
    assert sorted(numeric) == [("1", "7", 1709287200.0), ("2", "7", 1709290800.0)]


def test_missing_credentials_and_missing_folder_are_clean_errors(warehouse, tmp_path, capsys):
    assert run_web(tmp_path / "nowhere") == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["web", "--bucket-url", "s3://some-bucket/events"]) == 2
    assert "SOURCES__WEB__CREDENTIALS__AWS_ACCESS_KEY_ID" in capsys.readouterr().err


def test_file_glob_flag_selects_files(warehouse, tmp_path, capsys):
    folder = tmp_path / "events"
    (folder / "2024" / "03").mkdir(parents=True)
    row = "id,cookie_id,event_date\n{},c,2024-03-01T10:00:00Z\n"
    (folder / "2024" / "03" / "page_views_a.csv").write_text(row.format("a"))
    (folder / "page_views_b.csv").write_text(row.format("b"))
    (folder / "2024" / "03" / "page_views_c.jsonl").write_text('{"id": "c", "cookie_id": "c", "event_date": 0}\n')

    assert run_web(folder, "--file-glob", "**/*.csv") == 0

    assert "2 files read" in capsys.readouterr().out
    assert query(warehouse, "select id, _file_name from raw_web.page_views order by id") == [
        ("a", "2024/03/page_views_a.csv"),
        ("b", "page_views_b.csv"),
    ]
