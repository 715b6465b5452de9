"""`make daily`'s entry point (`python -m orchestration daily`), run as a cron user runs it, day after day
against the emulators: the first run builds everything, a day of web events builds the web chain only, new
Marketo persons the person chain, a day with nothing new builds nothing, and after each run the marts equal
a full build of the same raw data (both ways, EXCEPT ALL). The loaders' exit codes carry through: a clean
stop (3) builds what came and ends with 3, an error (2) fails the job before dbt and keeps the state.

The tests of this module run in order on one warehouse, as the days of one schedule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from orchestration.daily import project_vars
from tests.sources import PERSON_CHAIN, WEB_CHAIN, Sources
from tests.support import REPO, differences_from_full_build, query

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    try:
        with Sources(tmp_path_factory.mktemp("daily"), mp, crm=False) as found:
            yield found
    finally:
        mp.undo()


def daily(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def state_dir(sources: Sources) -> Path:
    return sources.db.with_name(sources.db.name + ".daily")


def built_models(sources: Sources) -> set[str]:
    """The models the last dbt build of the job ran, from its run_results.json."""
    results = json.loads((state_dir(sources) / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1] for r in results if r["unique_id"].startswith("model.")}


def new_data(run: subprocess.CompletedProcess) -> str:
    """The line of the job's output that names the source tables with new data."""
    return next(line for line in run.stdout.splitlines() if "new data since the last successful run in" in line)


def saved_run(sources: Sources) -> dict:
    return json.loads((state_dir(sources) / "last-success" / "run.json").read_text())


def assert_equals_full_build(sources: Sources) -> None:
    differences = differences_from_full_build(sources.db, sources.tmp / "full")
    assert not differences, f"marts differ from a full build: {differences}"


def test_first_run_loads_every_configured_source_and_builds_everything(sources):
    run = daily("daily")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    out = run.stdout
    assert "daily: marketo: loaded" in out and "daily: web: loaded" in out
    assert "daily: salesforce: skipped (not configured: set SOURCES__SALESFORCE__BASE_URL" in out
    assert "no successful run is recorded" in out
    assert saved_run(sources)["kind"] == "full"
    assert built_models(sources) >= WEB_CHAIN | PERSON_CHAIN
    # every raw table carries dlt's load id, so freshness can tell which loads wrote it
    unlabelled = query(
        sources.db,
        "select count(*) from raw_marketo.leads where _dlt_load_id not in "
        "(select load_id from raw_marketo._dlt_loads where status = 0)",
    )
    assert unlabelled == [(0,)]
    assert_equals_full_build(sources)


def test_a_day_of_web_events_builds_the_web_chain_and_its_reports_only(sources):
    sources.add_web_day()
    run = daily("daily")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "raw_web.page_views" in new_data(run) and "raw_marketo" not in new_data(run)
    assert built_models(sources) == WEB_CHAIN
    assert saved_run(sources)["kind"] == "changes"
    assert_equals_full_build(sources)


def test_a_day_with_nothing_new_builds_nothing(sources):
    results = state_dir(sources) / "target" / "run_results.json"
    before = results.stat().st_mtime_ns
    run = daily("daily")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "selected: nothing" in run.stdout
    assert results.stat().st_mtime_ns == before  # no dbt build ran
    assert saved_run(sources)["kind"] == "nothing"


def test_new_marketo_persons_build_the_person_chain(sources):
    ids = sources.add_marketo_persons(3)
    run = daily("daily")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "raw_marketo.leads" in new_data(run) and "raw_web" not in new_data(run)
    assert built_models(sources) == PERSON_CHAIN
    found = query(
        sources.db, f"select count(*) from main.biz_leads where id in ({', '.join(map(repr, map(str, ids)))})"
    )
    assert found == [(3,)]
    assert_equals_full_build(sources)


def test_a_clean_loader_stop_builds_what_came_and_exits_3(sources):
    sources.add_web_day()
    sources.marketo.daily_call_quota = 0  # every Marketo call answers 607
    try:
        run = daily("daily")
    finally:
        sources.marketo.daily_call_quota = None
    assert run.returncode == 3, run.stdout[-6000:] + run.stderr[-3000:]
    assert "daily: marketo: stopped" in run.stdout and "607" in run.stdout
    assert "the next run resumes" in run.stdout
    assert built_models(sources) == WEB_CHAIN
    assert saved_run(sources)["kind"] == "changes"


def test_a_loader_error_fails_the_job_before_dbt_and_keeps_the_state(sources):
    before = saved_run(sources)
    sources.add_marketo_persons(2)
    sources.marketo.fail_next_job = "Export failed on Marketo's side"
    run = daily("daily")
    assert run.returncode == 2, run.stdout[-6000:] + run.stderr[-3000:]
    assert "marketo loader failed (exit 2)" in run.stdout
    assert "Export failed on Marketo's side" in run.stdout
    assert "dbt did not run" in run.stdout
    assert saved_run(sources) == before
    # fixed (the emulator fails one job only): the next run loads and builds what the failed one did not
    run = daily("daily")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert built_models(sources) == PERSON_CHAIN


def test_the_weekly_job_reads_every_row(sources):
    # a page view the first run wrote, broken: the daily scope ('new') no longer reads it, the weekly one does
    with duckdb.connect(str(sources.db)) as con:
        con.execute(
            "update main.biz_page_views set session_id = 'no-such-session' where id = "
            "(select min(id) from main.biz_page_views where _processed_at = "
            "(select min(_processed_at) from main.biz_page_views))"
        )
    run = daily("weekly")
    assert run.returncode == 1
    # that test alone fails: every other data test passes on every row
    assert "ERROR=1 " in run.stdout, run.stdout[-3000:]
    assert "FAIL 1 relationships_biz_page_views_session_id__id__ref_biz_sessions_" in run.stdout


def test_only_vars_that_change_what_models_write_are_compared():
    base = project_vars({})
    assert base["session_timeout_minutes"] == 30 and "reporting_timezone" in base
    # alert thresholds and the test scope change no model: they never make the job rebuild
    assert project_vars({"source_freshness_warn_after_hours": 1, "data_tests_scope": "all"}) == base
    assert project_vars({"session_timeout_minutes": 45}) == {**base, "session_timeout_minutes": 45}
