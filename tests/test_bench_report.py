"""The bench's account of where a dbt run's time went, from its run_results.json."""

from __future__ import annotations

import json

import duckdb
import pytest

from bench.__main__ import (
    DAILY_DAY,
    DAILY_IDLE,
    DASHBOARD_SNAPSHOT,
    Report,
    Row,
    _dbt_run_breakdown,
    _snapshot_seconds,
    goals,
)


def test_breakdown_splits_start_up_models_and_tests(tmp_path):
    path = tmp_path / "run_results.json"
    results = [
        {"unique_id": "model.p.int_sessions_sessionized", "execution_time": 3.0},
        {"unique_id": "model.p.biz_sessions", "execution_time": 1.5},
        {"unique_id": "test.p.not_null_biz_sessions_id.abc", "execution_time": 0.25},
        {"unique_id": "test.p.unique_biz_sessions_id.def", "execution_time": 0.5},
        {"unique_id": "seed.p.channel_rules", "execution_time": 0.1},
    ]
    path.write_text(json.dumps({"elapsed_time": 4.0, "results": results}))
    text = _dbt_run_breakdown(path, wall_seconds=7.5)
    assert text.startswith("dbt start-up and exit 3.5s, run 4.0s (5 nodes; node time: models 4.5s, data tests 0.8s)")
    assert text.endswith("slowest models: int_sessions_sessionized 3.0s, biz_sessions 1.5s")


def test_breakdown_without_run_results(tmp_path):
    assert _dbt_run_breakdown(tmp_path / "missing.json", 1.0) == "no run_results.json"


def test_goal_lines_of_the_daily_job():
    rows = [
        Row("large", f"{DAILY_DAY} (~1% events): dbt part", 100, 9.0, 11.1, 1.0, "full", 120.0, 0.075),
        Row("large", f"{DAILY_IDLE}: dbt part", 0, 4.8, 0.0, 1.0, "full", 120.0, 0.04),
        Row("large", f"{DAILY_DAY}, whole job (loaders + dbt)", 100, 15.0, 6.7, 1.0),
    ]
    lines = goals(rows)
    assert "- large daily job's dbt part after a new day <= 10% of full build: 7.5% met" in lines
    assert "- large daily job's dbt part with nothing new <= 3% of full build: 4.0% MISSED" in lines
    assert not [line for line in lines if "whole job" in line]  # reported, not a goal


def test_dashboard_rows_say_whether_the_page_goals_are_met():
    rows = [
        Row(
            "large",
            "dashboard page Engagement: navigation to charts drawn (warm server)",
            0,
            0.8,
            0,
            300,
            "filter",
            0.6,
        ),
        Row("small", "dashboard page Journey: navigation to charts drawn (warm server)", 0, 1.2, 0, 300, "filter", 0.2),
        Row("large", f"{DASHBOARD_SNAPSHOT}, after the daily job's new day", 0, 1.0, 0, 0, "day", 20.0, 0.05),
    ]
    lines = goals(rows)
    assert "- large dashboard Engagement: navigation 0.80s <= 1 s met, filter change 0.60s <= 0.5 s MISSED" in lines
    assert any(line.startswith("- small dashboard Journey: navigation 1.20s <= 1 s MISSED") for line in lines)
    assert "- large dashboard snapshot: 5.0% of the daily job's new day (1.0s)" in lines


def test_snapshot_seconds_come_from_the_last_hook_in_dbts_log(tmp_path):
    log = tmp_path / "dbt.log"
    log.write_text(
        "12:00:01  1 of 1 OK hook: marketo_people.on-run-end.0 ....... [\x1b[32mOK\x1b[0m in 4.02s]\n"
        "12:05:01  1 of 1 OK hook: marketo_people.on-run-end.0 ....... [\x1b[32mOK\x1b[0m in 0.37s]\n"
    )
    assert _snapshot_seconds(log) == 0.37
    assert _snapshot_seconds(tmp_path / "none.log") == 0.0


# ---------------------------------------------------------------- honesty: inputs, empty results, same work
def test_a_step_brings_the_steps_whose_output_it_reads():
    from bench.__main__ import with_inputs

    assert with_inputs(["dbt", "plain"]) == (["marketo", "web", "dbt", "plain"], ["marketo", "web"])
    assert with_inputs(["dashboard"]) == (["marketo", "web", "dbt", "dashboard"], ["marketo", "web", "dbt"])
    assert with_inputs(["engines"])[0] == ["marketo", "web", "dbt", "engines"]
    assert with_inputs(["marketo"]) == (["marketo"], [])
    with pytest.raises(ValueError, match="unknown steps"):
        with_inputs(["dbt", "nope"])


def test_dbt_step_refuses_a_warehouse_no_loader_wrote(tmp_path):
    from bench.__main__ import _raw_inputs_missing

    db = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(db)).close()
    assert _raw_inputs_missing(db) == "raw_marketo.leads does not exist, raw_web.page_views does not exist"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw_marketo; create table raw_marketo.leads (id bigint)")
        con.execute("create schema raw_web; create table raw_web.page_views as select 'a' as id")
    assert _raw_inputs_missing(db) == "raw_marketo.leads is empty"
    with duckdb.connect(str(db)) as con:
        con.execute("insert into raw_marketo.leads values (1)")
    assert _raw_inputs_missing(db) == ""


def _marts(db, rows: int) -> None:
    from bench import plain

    with duckdb.connect(str(db)) as con:
        con.execute("create schema if not exists plain")
        for schema in ("main", "plain"):
            for mart in plain.MARTS:
                con.execute(f"create or replace table {schema}.{mart} as select range as id from range({rows})")


def test_plain_check_refuses_two_empty_sides(tmp_path, capsys):
    from bench import plain

    db = tmp_path / "w.duckdb"
    _marts(db, 0)
    problems = plain.check(db)
    assert {p.split(":")[0] for p in problems} == set(plain.MUST_HOLD_ROWS)
    assert all("empty on both sides, nothing compared" in p for p in problems)
    assert plain.main(["--check", str(db)]) == 1
    assert "plain SQL matches dbt" not in capsys.readouterr().out
    _marts(db, 3)
    assert plain.check(db) == []


def test_a_row_whose_sides_did_different_work_says_so():
    from bench.__main__ import _plain_check_rows, _same_rows, to_markdown

    assert _same_rows("persons", 0, 0) == (False, "NOT THE SAME WORK: ours landed 0 persons, the baseline 0")
    assert _same_rows("persons", None, 10)[0] is False
    assert _same_rows("persons", 10, 9)[0] is False
    assert _same_rows("persons", 10, 10) == (True, "both sides landed 10 persons")
    rows = [
        Row("small", "marketo loader: bulk file -> DuckDB", 0, 2.0, 0, 1, "read_csv", 1.0, 2.0, "n", same_work=False),
        Row("small", "web loader: JSONL.gz event files -> DuckDB", 9, 2.0, 4, 1, "read_json", 1.0, 2.0, same_work=True),
        Row("small", "dbt build from scratch vs the same rules as one plain SQL script", 9, 9, 1, 1, "p", 1.0, 9.0,
            same_work=False),
    ]  # fmt: skip
    lines = goals(rows)
    assert "- small marketo loader within 3x of DuckDB: 2.00x NOT MEASURED" in " ".join(lines)
    assert "- small web loader within 3x of DuckDB: 2.00x met" in lines
    assert any(
        line.startswith("- small dbt full build (models + data tests) within 1.5x of plain SQL: 9.00x NOT MEASURED")
        for line in lines
    )
    rows.append(Row("large", "dbt models only (seeds + models) vs the plain SQL script", 9, 9, 1, 1, "p", 10.0, 0.9))
    assert "- large dbt full build (models only) within 1x of plain SQL: 0.90x met" in goals(rows)
    md = to_markdown(Report("now", {"cores": 2, "memory_gb": 1, "platform": "x"}, {}, rows))
    assert md.count("(NOT THE SAME WORK: no ratio)") == 2
    output = "biz_leads    dbt         3  plain         3  ok\nbiz_sessions  dbt   0  plain  0  EMPTY\n"
    assert _plain_check_rows(output) == "2 marts, 3 rows compared"


def test_the_dbt_work_the_plain_script_does_not_do_is_named(tmp_path):
    from bench.__main__ import _dbt_work_beyond_plain

    path = tmp_path / "run_results.json"
    results = [
        {"unique_id": "model.p.rpt_dashboard_sessions", "execution_time": 1.5},
        {"unique_id": "model.p.rpt_persons_reconciliation", "execution_time": 0.5},  # a mart of the script
        {"unique_id": "model.p.biz_sessions", "execution_time": 2.0},
        {"unique_id": "operation.p.marketo_people-on-run-end-0", "execution_time": 0.75},
    ]
    path.write_text(json.dumps({"elapsed_time": 4.0, "results": results}))
    assert _dbt_work_beyond_plain(path) == (
        "dbt also builds 1 models the plain script does not (rpt_dashboard_sessions: 1.5s of node time) and runs "
        "its hooks (the dashboard snapshot, 0.8s); 4 nodes, 4.8s of node time over 4.0s of run"
    )
