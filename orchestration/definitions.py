"""Dagster definitions: the daily and weekly jobs of orchestration/daily.py on schedules, with every asset from
the loaders' raw tables to the rpt_* marts.

    make orchestrate                                    # the UI on http://127.0.0.1:3000 (DAGSTER_HOME=.dagster)
    dagster dev -m orchestration.definitions            # the same, by hand
    dagster definitions validate -m orchestration.definitions

- One multi-asset per loader (`load_marketo`, ...: the dbt source tables of its dataset), running
  `python -m loaders <source>` like a shell user: exit 3 (a clean stop, e.g. the quota) is a warning and a
  materialization, the run goes on, and the sensor `retry_after_clean_stop` starts the daily job again later;
  exit 2 fails the step with the loader's message (dbt then does not run). A loader that is not configured is
  skipped.
- The dbt project as assets (dagster-dbt), dbt data tests as asset checks. The `daily` job runs the same plan
  as `make daily` (orchestration.daily): the `daily` dbt selector, which `--selector` passes to dbt over the
  selection dagster-dbt adds, after `dbt source freshness`. Picking some dbt assets in the UI builds those.
- `weekly_tests`: every data test on every row (`data_tests_scope: all`), as asset check results.
- One warehouse writer at a time: every step runs in the run's process (in-process executor, so the loaders
  never run side by side), every step that opens the warehouse is in the pool `marketo_people_warehouse`, and
  the jobs carry the tag `marketo_people/warehouse` that dagster.yaml limits to one run per warehouse.
- On a failed step the hook `notify_failure` logs it and posts it to $ALERT_WEBHOOK_URL when set.

Env: SCHEDULE_DAILY_CRON (default `0 6 * * *`), SCHEDULE_WEEKLY_CRON (`0 7 * * 0`), SCHEDULE_TIMEZONE (`UTC`),
RETRY_AFTER_MINUTES (60), RETRY_MAX (3), ALERT_WEBHOOK_URL, and those of orchestration.daily (DUCKDB_PATH,
DBT_TARGET, DAILY_STATE_DIR, LOADERS_DESTINATION).
"""

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    Config,
    DagsterRunStatus,
    Definitions,
    Failure,
    HookContext,
    MaterializeResult,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    failure_hook,
    in_process_executor,
    job,
    multi_asset,
    op,
    sensor,
)
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.dbt_project import using_dagster_dev

from orchestration import daily

daily.absolute_env_paths()
TARGET = os.environ.get("DBT_TARGET") or None
POOL = "marketo_people_warehouse"
WAREHOUSE_TAG = "marketo_people/warehouse"
STOPPED_TAG = "marketo_people/stopped_loaders"
RETRY_TAG = "marketo_people/retry_number"

DBT = str(Path(sys.executable).with_name("dbt"))  # the venv's, whether or not the venv is on PATH

dbt_project = DbtProject(
    project_dir=daily.REPO, profiles_dir=daily.REPO, target=TARGET, target_path=Path("target") / "dagster"
)


def manifest_is_stale() -> bool:
    """No manifest yet, or a project file edited since it was parsed (a pull, an edit)."""
    if not dbt_project.manifest_path.exists():
        return True
    parsed = dbt_project.manifest_path.stat().st_mtime
    files = [daily.REPO / "dbt_project.yml", daily.REPO / "selectors.yml"]
    for folder in ("models", "macros", "seeds"):
        files += (daily.REPO / folder).rglob("*")
    return any(path.stat().st_mtime > parsed for path in files if path.is_file())


# the asset graph comes from the manifest: parsed again on every load under `dagster dev`, else when stale
if using_dagster_dev() or manifest_is_stale():
    DbtCliResource(project_dir=dbt_project, dbt_executable=DBT).cli(
        ["parse", "--quiet"], target_path=dbt_project.target_path
    ).wait()


def warehouse_id() -> str:
    """What the one-writer limit is per: the DuckDB file, or the target for other engines."""
    if (TARGET or "duckdb") == "duckdb":
        from loaders.common import duckdb_path

        return str(duckdb_path())
    return TARGET


class Translator(DagsterDbtTranslator):
    """dbt's folders as asset groups (staging, intermediate, marts, seeds); source tables are `raw`, where the
    loader assets put them."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        return dbt_resource_props["fqn"][1]


TRANSLATOR = Translator()


# ------------------------------------------------------------------------------------------- loaders
def source_tables(manifest_path: Path) -> dict[str, list[str]]:
    """dbt source tables by dataset: what each loader's asset produces."""
    out: dict[str, list[str]] = {}
    for source in json.loads(manifest_path.read_text())["sources"].values():
        out.setdefault(source["source_name"], []).append(source["name"])
    return {dataset: sorted(tables) for dataset, tables in out.items()}


def loader_assets(loader: daily.Loader, tables: list[str]):
    @multi_asset(
        name=f"load_{loader.source}",
        specs=[
            AssetSpec(
                [loader.dataset, table],
                skippable=True,
                group_name="raw",
                kinds={"dlt"},
                description=f"{loader.dataset}.{table}, landed by `python -m loaders {loader.source}`",
            )
            for table in tables
        ],
        pool=POOL,
        description=f"`python -m loaders {loader.source}`: lands {loader.dataset}",
    )
    def _load(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        outcome = daily.run_loader(loader, daily.loaders_destination(TARGET), echo=context.log.info)
        if outcome.status == "skipped":
            context.log.info(outcome.line)
            return
        if outcome.status == "failed":
            raise Failure(
                description=f"{loader.source} loader failed (exit {outcome.exit_code}): {outcome.message}",
                metadata={"exit_code": outcome.exit_code, "seconds": outcome.seconds},
            )
        metadata: dict[str, Any] = {"exit_code": outcome.exit_code, "seconds": round(outcome.seconds, 1)}
        if outcome.status == "stopped":
            context.log.warning(
                f"{loader.source} stopped cleanly (exit 3): {outcome.message}. What it loaded is built; "
                "the sensor retry_after_clean_stop runs the daily job again later"
            )
            stopped = context.run.tags.get(STOPPED_TAG)
            context.instance.add_run_tags(
                context.run.run_id, {STOPPED_TAG: ",".join(filter(None, [stopped, loader.source]))}
            )
            metadata["stopped"] = outcome.message
        for table in tables:
            yield MaterializeResult(asset_key=AssetKey([loader.dataset, table]), metadata=metadata)

    return _load


TABLES = source_tables(dbt_project.manifest_path)
LOADER_ASSETS = {
    loader.source: loader_assets(loader, TABLES[loader.dataset]) for loader in daily.LOADERS if loader.dataset in TABLES
}
# The daily job runs the loaders configured when the definitions load: a step that materialized nothing
# would make Dagster skip the dbt step after it. The others stay in the graph (and say why when run by hand).
CONFIGURED = [loader for loader in daily.LOADERS if loader.source in LOADER_ASSETS and daily.is_configured(loader)]


# ------------------------------------------------------------------------------------------- dbt
class DbtRunConfig(Config):
    full_build: bool = False  # build every node, whatever changed (the daily job's --full-build)
    vars: str = ""  # dbt vars as YAML, e.g. "{reporting_timezone: Europe/Paris}"
    tests: str = ""  # keys | all: the data tests on what a daily run wrote (default: $DAILY_TESTS, else keys)


def _vars(text: str) -> dict[str, Any]:
    loaded = yaml.safe_load(text) if text else {}
    if not isinstance(loaded, dict):
        raise Failure(f"config vars must be a YAML mapping, got {text!r}")
    return loaded


def daily_project(config: DbtRunConfig) -> daily.DbtProject:
    try:
        return daily.DbtProject(target=TARGET, vars=_vars(config.vars), tests=config.tests or None)
    except daily.DailyError as exc:
        raise Failure(str(exc)) from exc


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=TRANSLATOR,
    pool=POOL,
)
def marketo_people_dbt(context: AssetExecutionContext, dbt: DbtCliResource, config: DbtRunConfig):
    project = daily_project(config)
    vars_args = project.vars_args()
    if context.selected_asset_keys != context.assets_def.keys:
        # a pick in the UI: build what was picked (dagster-dbt's selection)
        yield from dbt.cli(["build", "--exclude-resource-type", "unit_test", *vars_args], context=context).stream()
        return
    for loader in daily.LOADERS:
        if loader not in CONFIGURED:
            context.log.info(f"{loader.source}: not configured when the definitions loaded, not in this job")
    started = time.monotonic()
    plan = daily.plan_and_say(project, config.full_build, context.log.info)
    seconds = {"plan": time.monotonic() - started}
    if plan.kind != "nothing":
        args = ["build", *plan.build_args(project.saved), *vars_args]
        context.log.info(f"dbt {' '.join(args)}")
        yield from dbt.cli(args, context=context, target_path=project.target_path).stream()
        seconds["build"] = time.monotonic() - started - seconds["plan"]
    project.commit(plan, seconds)
    result = daily.finish(plan, [], context.log.info)
    if plan.stale:
        raise Failure(description=result.message)


@op(pool=POOL, out={}, description="dbt test: every data test on every row (data_tests_scope: all)")
def test_every_row(context: OpExecutionContext, dbt: DbtCliResource, config: DbtRunConfig):
    project = daily_project(config)
    args = [*daily.WEEKLY_COMMAND, *project.vars_args(daily.WEEKLY_VARS)]
    yield from dbt.cli(
        args, manifest=dbt_project.manifest_path, dagster_dbt_translator=TRANSLATOR, target_path=project.target_path
    ).stream()


# ------------------------------------------------------------------------------------------- alerts
@failure_hook
def notify_failure(context: HookContext) -> None:
    """A failed step: one clear log line, and a POST to ALERT_WEBHOOK_URL (Slack-style {"text": ...}) when set."""
    text = (
        f"marketo-people: job {context.job_name} failed at {context.op.name} (run {context.run_id}): "
        f"{context.op_exception}"
    )
    context.log.error(text)
    url = os.environ.get("ALERT_WEBHOOK_URL")
    if not url:
        return
    payload = {"text": text, "job": context.job_name, "step": context.op.name, "run_id": context.run_id}
    try:
        requests.post(url, json=payload, timeout=10).raise_for_status()
    except requests.RequestException as exc:
        context.log.warning(f"could not post the failure to ALERT_WEBHOOK_URL: {exc}")


# ------------------------------------------------------------------------------------------- jobs
RUN_TAGS = {WAREHOUSE_TAG: warehouse_id()}

daily_job = define_asset_job(
    "daily",
    selection=AssetSelection.assets(marketo_people_dbt, *(LOADER_ASSETS[loader.source] for loader in CONFIGURED)),
    description="Every configured loader ("
    + (", ".join(loader.source for loader in CONFIGURED) or "none configured")
    + "), then dbt build of what the new data and changed code touch (the same job as `make daily`).",
    tags=RUN_TAGS,
    hooks={notify_failure},
)


@job(tags=RUN_TAGS, hooks={notify_failure}, resource_defs={})
def weekly_tests():
    """Every data test on every row (data_tests_scope: all): `make weekly`."""
    test_every_row()


def schedule(name: str, job: Any, cron_env: str, cron: str) -> ScheduleDefinition:
    """A schedule of `job` at the cron in env `cron_env` (default `cron`), in SCHEDULE_TIMEZONE."""
    return ScheduleDefinition(
        name=name,
        job=job,
        cron_schedule=os.environ.get(cron_env, cron),
        execution_timezone=os.environ.get("SCHEDULE_TIMEZONE", "UTC"),
        description=f"{job.name} at {cron_env} (default `{cron}`) in SCHEDULE_TIMEZONE (default UTC)",
    )


daily_schedule = schedule("daily_schedule", daily_job, "SCHEDULE_DAILY_CRON", "0 6 * * *")
weekly_schedule = schedule("weekly_tests_schedule", weekly_tests, "SCHEDULE_WEEKLY_CRON", "0 7 * * 0")


@sensor(
    job=daily_job, minimum_interval_seconds=60, description="Runs the daily job again after a loader stopped cleanly"
)
def retry_after_clean_stop(context: SensorEvaluationContext):
    """A daily run in which a loader stopped cleanly (exit 3, e.g. a quota) succeeded with what was loaded;
    once RETRY_AFTER_MINUTES have passed, the daily job runs again and the loader resumes. At most RETRY_MAX
    retries in a row; a newer daily run makes the retry moot."""
    latest = context.instance.get_run_records(RunsFilter(job_name=daily_job.name), limit=1)
    if not latest:
        return SkipReason("no daily run yet")
    run = latest[0].dagster_run
    stopped = run.tags.get(STOPPED_TAG)
    if run.status != DagsterRunStatus.SUCCESS or not stopped:
        return SkipReason("the latest daily run did not end with a clean loader stop")
    retries = int(run.tags.get(RETRY_TAG, "0"))
    if retries >= int(os.environ.get("RETRY_MAX", "3")):
        return SkipReason(f"{retries} retries in a row; the next scheduled run resumes")
    wait = timedelta(minutes=float(os.environ.get("RETRY_AFTER_MINUTES", "60")))
    ended = latest[0].end_time
    if ended is None or datetime.now(UTC) < datetime.fromtimestamp(ended, UTC) + wait:
        return SkipReason(f"waiting {wait} after the run that stopped ({stopped})")
    return RunRequest(run_key=f"retry-{run.run_id}", tags={RETRY_TAG: str(retries + 1)})


defs = Definitions(
    assets=[*LOADER_ASSETS.values(), marketo_people_dbt],
    jobs=[daily_job, weekly_tests],
    schedules=[daily_schedule, weekly_schedule],
    sensors=[retry_after_clean_stop],
    resources={"dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT, target=TARGET)},
    executor=in_process_executor,
)
