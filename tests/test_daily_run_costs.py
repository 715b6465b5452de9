"""What keeps a daily `dbt build` proportional to the new data (issue 6), checked on a real warehouse:
person models are rebuilt only when one of their inputs changed, and data tests in the default 'new' scope
read what the latest run wrote while 'all' reads every row."""

from __future__ import annotations

import duckdb

from tests.support import query, run_dbt
from tests.test_incremental_web import BATCHES
from tests.test_touchpoints_dbt import load_batch

PERSON_MODELS = ["int_persons_unioned", "int_leads_matched_to_accounts", "biz_leads", "rpt_persons_reconciliation"]
REPORTS = [
    "rpt_new_persons_by_month_source_channel",
    "rpt_touchpoints_by_month_channel_segment",
    "rpt_web_traffic_by_day_landing_page_channel",
]


def fingerprints(path) -> dict[str, tuple]:
    rows = query(path, "select model_id, fingerprint, rebuilt_at, checked_at from main._inputs_fingerprints")
    return {model_id.split(".")[-1]: tuple(rest) for model_id, *rest in rows}


def test_person_models_are_rebuilt_only_when_an_input_changes(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    load_batch(path, **BATCHES[0])
    run_dbt(["build", "--exclude", "test_type:unit"], path)
    first = fingerprints(path)
    leads_before = query(path, "select count(*) from main.biz_leads")[0][0]

    # a day of web events only: the person models keep their rows and their fingerprint
    web_only = {k: v for k, v in BATCHES[1].items() if k in ("load_id", "page_views", "form_submits")}
    load_batch(path, **web_only)
    run_dbt(["build", "--exclude", "test_type:unit"], path)
    second = fingerprints(path)
    for model in PERSON_MODELS:
        fingerprint, rebuilt_at, checked_at = second[model]
        assert (fingerprint, rebuilt_at) == first[model][:2], model
        assert checked_at > first[model][2], model
    # the web side moved on, and the reports, which count it, were rebuilt
    assert query(path, "select count(distinct _processed_at) from main.biz_page_views")[0][0] == 2
    for model in REPORTS:
        assert second[model][0] != first[model][0], model

    # a run with nothing new: the person models and the reports keep their rows
    counts = {model: query(path, f"select count(*) from main.{model}") for model in REPORTS}
    run_dbt(["build", "--exclude", "test_type:unit"], path)
    idle = fingerprints(path)
    for model in PERSON_MODELS + REPORTS:
        assert idle[model][:2] == second[model][:2], model
        assert idle[model][2] > second[model][2], model
    assert {model: query(path, f"select count(*) from main.{model}") for model in REPORTS} == counts

    # a new Marketo person: every person model is rebuilt from it
    load_batch(
        path,
        load_id="1700000099.1",
        leads=[(99, "new.person@example.com", "2026-03-05 10:00:00", None, None, None)],
    )
    run_dbt(["build", "--exclude", "test_type:unit"], path)
    third = fingerprints(path)
    for model in PERSON_MODELS:
        assert third[model][0] != first[model][0], model
        assert third[model][1] > first[model][1], model
    assert query(path, "select count(*) from main.biz_leads")[0][0] == leads_before + 1
    assert query(path, "select count(*) from main.biz_leads where id = '99'") == [(1,)]


def test_new_scope_reads_what_the_latest_run_wrote_and_all_reads_everything(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    for batch in BATCHES[:2]:
        load_batch(path, **batch)
        run_dbt(["build", "--exclude", "test_type:unit"], path)
    # damage a page view the first run wrote, and one the second run wrote
    with duckdb.connect(str(path)) as con:
        stamps = [
            s for (s,) in con.execute("select distinct _processed_at from main.biz_page_views order by 1").fetchall()
        ]
        assert len(stamps) == 2
        con.execute(
            "update main.biz_page_views set session_id = 'no-such-session' "
            "where id = (select min(id) from main.biz_page_views where _processed_at = ?)",
            [stamps[0]],
        )
    select = ["test", "--select", "biz_page_views,test_name:relationships"]
    # 'new' (default): only the latest run's rows are read, so the older damage goes unseen ...
    assert run_dbt(select, path, check=False).returncode == 0
    # ... and the weekly 'all' run finds it
    failed = run_dbt(select, path, vars={"data_tests_scope": "all"}, check=False)
    assert failed.returncode == 1 and "Got 1 result" in failed.stdout
    with duckdb.connect(str(path)) as con:
        con.execute(
            "update main.biz_page_views set session_id = 'no-such-session' "
            "where id = (select min(id) from main.biz_page_views where _processed_at = ?)",
            [stamps[1]],
        )
    assert run_dbt(select, path, check=False).returncode == 1
    bad = run_dbt(select, path, vars={"data_tests_scope": "everything"}, check=False)
    assert bad.returncode != 0 and "data_tests_scope" in bad.stdout
