"""The Dagster definitions (orchestration/definitions.py), in process against the emulators: the daily job
materializes every asset on its first run, then only what a day of web events or new Marketo persons
touch (asserted from the assets the run materialized), with the marts equal to a full build; a loader's
clean stop (exit 3) ends as a success that the retry sensor picks up, an error (exit 2) fails the run with
the loader's message and posts it to the alert webhook; the weekly job runs every data test on every row.

The tests of this module run in order on one warehouse, as the runs of one schedule."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from dagster import AssetCheckSeverity, AssetKey, DagsterEventType, DagsterInstance, build_sensor_context

from tests.sources import PERSON_CHAIN, WEB_CHAIN, Sources
from tests.support import REPO, differences_from_full_build

pytestmark = pytest.mark.slow


class Webhook:
    """An HTTP endpoint on 127.0.0.1 that keeps the JSON bodies posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The sources, a Dagster home with the project's dagster.yaml, the webhook, and the definitions loaded
    with that environment (they read which loaders are configured when they load)."""
    tmp = tmp_path_factory.mktemp("dagster")
    mp = pytest.MonkeyPatch()
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "orchestration" / "dagster.yaml", home / "dagster.yaml")
    webhook = Webhook()
    mp.setenv("DAGSTER_HOME", str(home))
    mp.setenv("ALERT_WEBHOOK_URL", webhook.url)
    mp.setenv("RETRY_AFTER_MINUTES", "0")
    try:
        with Sources(tmp, mp) as sources:
            import orchestration.definitions

            definitions = importlib.reload(orchestration.definitions)
            with DagsterInstance.get() as instance:
                yield sources, definitions, instance, webhook
    finally:
        webhook.server.shutdown()
        mp.undo()


def run_daily(definitions, instance):
    return definitions.defs.resolve_job_def("daily").execute_in_process(instance=instance, raise_on_error=False)


def materialized(result) -> set[AssetKey]:
    return {e.asset_key for e in result.all_events if e.event_type == DagsterEventType.ASSET_MATERIALIZATION}


def checks(result) -> list:
    return [e.event_specific_data for e in result.all_events if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION]


def failed(evaluations: list) -> list:
    """Checks that failed at error severity (a warn-severity dbt test may fail and the run go on)."""
    return [(e.asset_key, e.check_name) for e in evaluations if not e.passed and e.severity != AssetCheckSeverity.WARN]


def ancestors(graph, key: AssetKey) -> set[AssetKey]:
    seen: set[AssetKey] = set()
    todo = [key]
    while todo:
        for parent in graph.get(todo.pop()).parent_keys:
            if parent not in seen:
                seen.add(parent)
                todo.append(parent)
    return seen


def assert_equals_full_build(sources: Sources) -> None:
    differences = differences_from_full_build(sources.db, sources.tmp / "full")
    assert not differences, f"marts differ from a full build: {differences}"


def test_definitions_validate(setup):
    sources, definitions, instance, _ = setup
    run = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-m", "orchestration.definitions"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Validation successful" in run.stdout + run.stderr
    # the instance is the project's dagster.yaml: no telemetry, one run per warehouse, one warehouse step at a time
    assert not instance.telemetry_enabled
    concurrency = instance.get_concurrency_config()
    assert concurrency.pool_config.default_pool_limit == 1
    limits = concurrency.run_queue_config.tag_concurrency_limits
    assert [(limit["key"], limit["limit"]) for limit in limits] == [(definitions.WAREHOUSE_TAG, 1)]
    daily_job = definitions.defs.resolve_job_def("daily")
    assert daily_job.tags[definitions.WAREHOUSE_TAG] == str(sources.db)
    assert {node.definition.pool for node in daily_job.graph.nodes} == {definitions.POOL}
    assert [loader.source for loader in definitions.CONFIGURED] == ["marketo", "salesforce", "dynamics", "web"]


def test_first_daily_run_materializes_every_asset(setup):
    sources, definitions, instance, _ = setup
    result = run_daily(definitions, instance)
    assert result.success
    every_asset = set(definitions.defs.resolve_asset_graph().get_all_asset_keys())
    assert materialized(result) == every_asset
    assert (
        AssetKey(["raw_dynamics", "accounts"]) in every_asset
        and AssetKey(["rpt_persons_reconciliation"]) in every_asset
    )
    # the tests of unique keys on what the run wrote; the weekly job runs the others
    evaluations = checks(result)
    specs = definitions.marketo_people_dbt.check_specs_by_output_name.values()
    key_checks = {(spec.asset_key, spec.name) for spec in specs if spec.name.startswith("unique")}
    assert {(e.asset_key, e.check_name) for e in evaluations} == key_checks
    assert len(key_checks) > 30
    assert not failed(evaluations)
    # lineage: every mart reaches back to the raw tables the loaders land (but the two made of seeds only)
    graph = definitions.defs.resolve_asset_graph()
    for key in every_asset:
        if key.path[-1].startswith(("biz_", "rpt_")) and key.path[-1] not in ("biz_channels", "biz_segment_names"):
            raw = {parent for parent in ancestors(graph, key) if parent.path[0].startswith("raw_")}
            assert raw, key
    assert {
        AssetKey(["raw_web", "page_views"]),
        AssetKey(["raw_marketo", "leads"]),
        AssetKey(["raw_salesforce", "lead"]),
    } <= ancestors(graph, AssetKey(["rpt_touchpoints_by_month_channel_segment"]))


@pytest.mark.parametrize(
    "change, chain",
    [(Sources.add_web_day, WEB_CHAIN), (Sources.add_marketo_persons, PERSON_CHAIN)],
    ids=["a day of web events: the web chain", "new Marketo persons: the person chain"],
)
def test_new_data_materializes_what_it_touches_only(setup, change, chain):
    sources, definitions, instance, _ = setup
    change(sources)
    result = run_daily(definitions, instance)
    assert result.success
    assert {key.path[-1] for key in materialized(result) if len(key.path) == 1} == chain
    assert_equals_full_build(sources)


def test_a_clean_loader_stop_succeeds_and_is_retried_later(setup):
    sources, definitions, instance, _ = setup
    sources.marketo.daily_call_quota = 0  # every Marketo call answers 607
    try:
        result = run_daily(definitions, instance)
    finally:
        sources.marketo.daily_call_quota = None
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.tags[definitions.STOPPED_TAG] == "marketo"
    warnings = [
        e.message for e in instance.all_logs(result.run_id) if e.level >= 30 and "stopped cleanly (exit 3)" in e.message
    ]
    assert warnings and "607" in warnings[0]
    request = definitions.retry_after_clean_stop(build_sensor_context(instance=instance))
    assert request.run_key == f"retry-{result.run_id}"
    assert request.tags[definitions.RETRY_TAG] == "1"


def test_a_loader_error_fails_the_run_with_its_message_and_alerts(setup):
    sources, definitions, instance, webhook = setup
    sources.marketo.fail_next_job = "Export failed on Marketo's side"
    result = run_daily(definitions, instance)
    assert not result.success
    failures = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert [e.step_key for e in failures] == ["load_marketo"]
    message = failures[0].event_specific_data.error.message
    assert "marketo loader failed (exit 2)" in message and "Export failed on Marketo's side" in message
    started = {e.step_key for e in result.all_events if e.event_type == DagsterEventType.STEP_START}
    assert "marketo_people_dbt" not in started and "load_web" in started  # the other loaders ran, dbt did not
    assert len(webhook.posts) == 1
    assert webhook.posts[0]["step"] == "load_marketo"
    assert "Export failed on Marketo's side" in webhook.posts[0]["text"]
    # the sensor does not retry a failed run: that is an error to fix
    assert definitions.retry_after_clean_stop(build_sensor_context(instance=instance)).skip_message


def test_the_weekly_job_runs_every_data_test_on_every_row(setup):
    sources, definitions, instance, _ = setup
    result = definitions.defs.resolve_job_def("weekly_tests").execute_in_process(instance=instance)
    assert result.success
    evaluations = checks(result)
    assert len(evaluations) == len(definitions.marketo_people_dbt.check_specs_by_output_name)
    assert not failed(evaluations)
    commands = [e.message for e in instance.all_logs(result.run_id) if "dbt command" in e.message]
    assert commands and all('"data_tests_scope": "all"' in c for c in commands)
