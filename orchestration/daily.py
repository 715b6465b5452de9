"""The daily job, as plain Python: `make daily` (cron) runs it from a shell, and the Dagster definitions
(orchestration/definitions.py) call the same functions; there is no second path for the scheduler.

1. Loaders: every configured source, `python -m loaders <source>` in a child process, as a shell user runs
   it. A source that is not configured is skipped and said so. Exit codes: 0 done; 3 a clean stop that
   resumes (quota): what was loaded is built, the job ends with 3 and the next run resumes; 2 (or anything
   else) an error to fix: the other loaders still run, dbt does not, and the job fails with the message.
2. `dbt source freshness`: when dlt finished the loads that wrote each source table (macros/dlt_loaded_at.sql).
3. The plan: with no successful run recorded (a fresh checkout, a new warehouse) or with changed vars, every
   node; else the nodes of the `daily` selector (selectors.yml): downstream of each source table that got
   new data since the last successful run, and of each node whose SQL, seed, config or macros changed.
   Nothing new and nothing changed: no build at all.
4. `dbt build` of the plan: the models and the tests of their unique keys, on the rows this run wrote (scope
   `new`); DAILY_TESTS=all takes every test on them. The weekly job runs every test on every row.
5. Only after a successful build, the run's manifest and freshness become the state the next run compares
   with (`last-success/` in the state dir).

Env: DUCKDB_PATH (the warehouse), DBT_TARGET (a dbt target of profiles.yml; default duckdb), DAILY_STATE_DIR
(default: `<DUCKDB_PATH>.daily` next to the DuckDB file; `.daily/<target>` at the repo root for other
targets), LOADERS_DESTINATION (the loaders' --destination; default from the target: postgres for postgres,
filesystem for spark, DuckDB otherwise), DAILY_TESTS (keys or all).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
# selectors.yml, by the data tests a daily run takes (DAILY_TESTS): `keys` runs the tests of unique keys on
# what the run wrote and leaves every other test to the weekly job; `all` runs every test on what it wrote
SELECTORS = {
    ("changes", "keys"): "daily",
    ("changes", "all"): "daily_all_tests",
    ("full", "keys"): "everything_daily_tests",
    ("full", "all"): None,
}
# vars that change what a test reads or when a source counts as stale, not what any model writes
VARS_NOT_IN_STATE = frozenset(
    {
        "data_tests_scope",
        "source_freshness_warn_after_hours",
        "source_freshness_error_after_hours",
        "source_freshness_occasional_warn_after_days",
    }
)
# the loaders' dlt destination for the engines the SPEC pins (DBT_TARGET); LOADERS_DESTINATION overrides
DESTINATIONS = {"postgres": "postgres", "spark": "filesystem"}
# the weekly job: every data test on every row
WEEKLY_COMMAND = ["test", "--exclude-resource-type", "unit_test"]
WEEKLY_VARS = {"data_tests_scope": "all"}
NEVER = datetime(1, 1, 1, tzinfo=UTC)  # dbt's max_loaded_at for a table with no completed load

Echo = Callable[[str], None]


class DailyError(Exception):
    """The daily job cannot go on: the message says why and what to do."""


# ---------------------------------------------------------------------------------------------- loaders
@dataclass(frozen=True)
class Loader:
    source: str  # python -m loaders <source>
    dataset: str  # the dlt dataset it writes: the dbt source of the same name
    setting: str  # the dlt setting without which it is not configured

    @property
    def env_var(self) -> str:
        return self.setting.upper().replace(".", "__")


LOADERS = (
    Loader("marketo", "raw_marketo", "sources.marketo.base_url"),
    Loader("salesforce", "raw_salesforce", "sources.salesforce.base_url"),
    Loader("dynamics", "raw_dynamics", "sources.dynamics.base_url"),
    Loader("web", "raw_web", "sources.web.bucket_url"),
)


@dataclass
class LoaderOutcome:
    source: str
    status: str  # loaded | stopped (exit 3, resumes) | failed | skipped (not configured)
    message: str
    exit_code: int | None = None
    seconds: float = 0.0

    @property
    def line(self) -> str:
        return f"{self.source}: {self.status}" + (f" ({self.message})" if self.message else "")


def is_configured(loader: Loader) -> bool:
    """Whether the loader's required setting is set anywhere dlt looks (env vars, .dlt/*.toml)."""
    import dlt

    return dlt.config.get(loader.setting) is not None


def loaders_destination(target: str | None) -> str | None:
    return os.environ.get("LOADERS_DESTINATION") or DESTINATIONS.get(target or "")


def run_loader(loader: Loader, destination: str | None = None, echo: Echo = print) -> LoaderOutcome:
    """`python -m loaders <source>` in a child process (its output passed on line by line), its exit code
    mapped to an outcome."""
    if not is_configured(loader):
        return LoaderOutcome(
            loader.source,
            "skipped",
            f"not configured: set {loader.env_var} or [{loader.setting.rsplit('.', 1)[0]}] "
            "in .dlt/config.toml to load it",
        )
    cmd = [sys.executable, "-m", "loaders", loader.source] + (["--destination", destination] if destination else [])
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        echo(f"  {line.rstrip()}")
    code = proc.wait()
    seconds = time.monotonic() - started
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    message = errors[-1] if errors else " / ".join(lines[-3:])
    if code == 0:
        return LoaderOutcome(loader.source, "loaded", "", code, seconds)
    if code == 3:
        return LoaderOutcome(loader.source, "stopped", message, code, seconds)
    return LoaderOutcome(loader.source, "failed", message or f"exit code {code}", code, seconds)


# ---------------------------------------------------------------------------------------------- dbt
@dataclass
class SourceFreshness:
    unique_id: str
    name: str  # raw_web.page_views
    status: str  # pass | warn | error | runtime error
    loaded_at: datetime  # NEVER when no completed load wrote the table (or it does not exist)
    age_hours: float
    message: str = ""

    @property
    def loaded(self) -> bool:
        return self.loaded_at > NEVER

    @property
    def stale(self) -> bool:
        """Past the error threshold; a table never loaded is not stale, it is not in use (yet)."""
        return self.loaded and self.status == "error"


def read_freshness(path: Path) -> dict[str, SourceFreshness]:
    """target/sources.json of `dbt source freshness`, by source unique id."""
    out = {}
    for r in json.loads(path.read_text())["results"]:
        uid = r["unique_id"]
        if "max_loaded_at" not in r:  # a runtime error: the query failed
            out[uid] = SourceFreshness(uid, _source_name(uid), r["status"], NEVER, 0.0, r.get("message") or "")
            continue
        loaded_at = datetime.fromisoformat(r["max_loaded_at"])
        loaded_at = loaded_at if loaded_at.tzinfo else loaded_at.replace(tzinfo=UTC)
        age = r["max_loaded_at_time_ago_in_s"] / 3600
        out[uid] = SourceFreshness(uid, _source_name(uid), r["status"], loaded_at, age)
    return out


def _source_name(unique_id: str) -> str:
    return ".".join(unique_id.split(".")[-2:])


def release_duckdb() -> None:
    """dbt-duckdb keeps the DuckDB file open between in-process invocations; a loader or a `dbt` child
    process (Dagster's) could not open it then (DuckDB allows one process at a time)."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:
        return
    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def default_state_dir(target: str | None = None) -> Path:
    """DAILY_STATE_DIR, else next to the DuckDB file (the state describes that warehouse: delete both
    together), else `.daily/<target>` at the repo root."""
    if os.environ.get("DAILY_STATE_DIR"):
        return Path(os.environ["DAILY_STATE_DIR"]).resolve()
    if (target or "duckdb") == "duckdb":
        from loaders.common import duckdb_path

        path = duckdb_path()
        return path.with_name(path.name + ".daily")
    return REPO / ".daily" / target


def project_vars(cli_vars: dict[str, Any]) -> dict[str, Any]:
    """The vars the models see (dbt_project.yml's, global and this project's, then --vars), minus those
    that change no model: what the saved state compares."""
    config = yaml.safe_load((REPO / "dbt_project.yml").read_text())
    declared = config.get("vars") or {}
    merged = {k: v for k, v in declared.items() if not isinstance(v, dict)}
    merged.update(declared.get(config["name"]) or {})
    merged.update(cli_vars)
    kept = {k: v for k, v in sorted(merged.items()) if k not in VARS_NOT_IN_STATE}
    return json.loads(json.dumps(kept, default=str))  # as run.json keeps them, so the two compare


def selection_args(kind: str, tests: str, state: Path) -> list[str]:
    """The selection of a `full` or `changes` plan, unit tests aside (they belong to `make test`)."""
    selector = SELECTORS[(kind, tests)]
    args = ["--exclude-resource-type", "unit_test"] + (["--selector", selector] if selector else [])
    return args + (["--state", str(state)] if kind == "changes" else [])


@dataclass
class Plan:
    kind: str  # full | changes | nothing
    tests: str  # keys | all (DAILY_TESTS)
    why: list[str]
    selected: list[str]  # unique ids of the models, seeds, snapshots and data tests to build
    freshness: dict[str, SourceFreshness]
    vars: dict[str, Any]
    manifest: Any = field(repr=False, default=None)

    def build_args(self, state: Path) -> list[str]:
        """The `dbt build` arguments of the plan (after `build`; paths, target and vars come from the caller)."""
        return selection_args(self.kind, self.tests, state)

    @property
    def stale(self) -> list[SourceFreshness]:
        return [f for f in self.freshness.values() if f.stale]

    def describe(self) -> list[str]:
        kinds = {}
        for uid in self.selected:
            kinds[uid.split(".")[0]] = kinds.get(uid.split(".")[0], 0) + 1
        counted = ", ".join(f"{n} {k}s" for k, n in sorted(kinds.items())) or "nothing"
        tests = {"keys": "the tests of unique keys; the weekly job runs the others", "all": "every test on them"}
        lines = [f"selected: {counted}" + (f" ({tests[self.tests]})" if self.selected else "")]
        lines += [f"  because {reason}" for reason in self.why]
        models = [uid.split(".")[-1] for uid in self.selected if uid.startswith(("model.", "seed.", "snapshot."))]
        if models:
            lines.append("  models and seeds: " + ", ".join(models))
        return lines


class DbtProject:
    """The dbt project as the daily and weekly jobs run it: in this process (dbt starts once and parses once
    per run), with the job's own target path and logs in the state dir."""

    def __init__(
        self,
        state_dir: Path | None = None,
        target: str | None = None,
        vars: dict[str, Any] | None = None,
        tests: str | None = None,
    ) -> None:
        self.target = target or os.environ.get("DBT_TARGET") or None
        self.tests = tests or os.environ.get("DAILY_TESTS") or "keys"
        if self.tests not in ("keys", "all"):
            raise DailyError(f"DAILY_TESTS is {self.tests!r}: use keys (the tests of unique keys) or all")
        self.state_dir = (state_dir or default_state_dir(self.target)).resolve()
        self.cli_vars = dict(vars or {})
        self.target_path = self.state_dir / "target"
        self.saved = self.state_dir / "last-success"

    # ------------------------------------------------------------------ invocations
    def vars_args(self, extra_vars: dict[str, Any] | None = None) -> list[str]:
        cli_vars = {**self.cli_vars, **(extra_vars or {})}
        return ["--vars", json.dumps(cli_vars)] if cli_vars else []

    def common_args(self, extra_vars: dict[str, Any] | None = None) -> list[str]:
        args = ["--project-dir", str(REPO), "--profiles-dir", str(REPO)]
        if self.target:
            args += ["--target", self.target]
        return args + self.vars_args(extra_vars)

    def invoke(self, command: list[str], manifest: Any = None, quiet: bool = True, extra_vars: dict | None = None):
        from dbt.cli.main import dbtRunner

        args = [
            *command,
            *self.common_args(extra_vars),
            "--target-path",
            str(self.target_path),
            "--log-path",
            str(self.state_dir / "logs"),
        ]
        if quiet:
            args += ["--log-level", "none"] if command[0] == "ls" else ["--quiet"]
        elif not sys.stdout.isatty():
            args.append("--no-use-colors")  # a log file or Dagster, not a terminal
        try:
            return dbtRunner(manifest=manifest).invoke(args)
        finally:
            release_duckdb()

    def parse(self) -> Any:
        result = self.invoke(["parse", "--no-write-json"])
        if not result.success:
            raise DailyError(f"dbt could not parse the project: {result.exception or 'see the messages above'}")
        return result.result

    def source_freshness(self, manifest: Any) -> dict[str, SourceFreshness]:
        path = self.target_path / "sources.json"
        path.unlink(missing_ok=True)  # never read an earlier run's
        self.invoke(["source", "freshness"], manifest=manifest)  # fails on stale sources: read its file
        if not path.exists():
            raise DailyError("`dbt source freshness` wrote no sources.json; run it by hand to see why")
        found = read_freshness(path)
        failed = [f for f in found.values() if f.status == "runtime error"]
        if failed:
            raise DailyError(
                "dbt source freshness could not read "
                + "; ".join(f"{f.name}: {f.message}" for f in failed)
                + " (macros/dlt_loaded_at.sql runs the query)"
            )
        return found

    def ls(self, manifest: Any, selection: list[str]) -> list[str]:
        output = ["--output", "json", "--output-keys", "unique_id"]
        result = self.invoke(["ls", *selection, *output], manifest=manifest)
        if not result.success:
            raise DailyError(f"dbt ls {' '.join(selection)} failed: {result.exception}")
        return [json.loads(line)["unique_id"] for line in result.result]

    # ------------------------------------------------------------------ plan and state
    def plan(self, full: bool = False) -> Plan:
        """Parse, read source freshness, and decide what this run builds (prints nothing)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        manifest = self.parse()
        freshness = self.source_freshness(manifest)
        current_vars = project_vars(self.cli_vars)
        saved_run = self._saved_run()

        def selected(kind: str) -> list[str]:
            found = self.ls(manifest, selection_args(kind, self.tests, self.saved))
            return [uid for uid in found if not uid.startswith("source.")]

        def full_plan(reason: str) -> Plan:
            return Plan("full", self.tests, [reason], selected("full"), freshness, current_vars, manifest)

        if full:
            return full_plan("a full build was asked for (--full-build)")
        if saved_run is None:
            return full_plan(f"no successful run is recorded in {self.saved}: the first run builds everything")
        from dbt.version import __version__ as dbt_version

        if saved_run.get("dbt_version") != dbt_version:
            return full_plan(f"the last successful run used dbt {saved_run.get('dbt_version')}, this one {dbt_version}")
        if saved_run.get("vars") != current_vars:
            changed = sorted(
                k
                for k in set(current_vars) | set(saved_run.get("vars", {}))
                if current_vars.get(k) != saved_run["vars"].get(k)
            )
            return full_plan(
                "vars changed since the last successful run ("
                + ", ".join(f"{k}: {saved_run['vars'].get(k)!r} -> {current_vars.get(k)!r}" for k in changed)
                + "); dbt cannot tell which models read them"
            )
        saved_freshness = read_freshness(self.saved / "sources.json")
        fresher = [
            f
            for uid, f in sorted(freshness.items())
            if f.loaded and (uid not in saved_freshness or f.loaded_at > saved_freshness[uid].loaded_at)
        ]
        changes = selected("changes")
        if not changes:
            nothing_new = "no source table got new data and no code changed since the last successful run"
            return Plan("nothing", self.tests, [nothing_new], [], freshness, current_vars, manifest)
        why = _reasons(manifest, changes, fresher)
        return Plan("changes", self.tests, why, changes, freshness, current_vars, manifest)

    def _saved_run(self) -> dict | None:
        path = self.saved / "run.json"
        if not (path.exists() and (self.saved / "manifest.json").exists() and (self.saved / "sources.json").exists()):
            return None
        return json.loads(path.read_text())

    def commit(self, plan: Plan, seconds: dict[str, float] | None = None) -> None:
        """The plan was built: its manifest and this run's freshness are what the next run compares with.
        `seconds`: where the run's time went (recorded in run.json with the rest)."""
        from dbt.version import __version__ as dbt_version

        tmp = self.state_dir / "last-success.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if plan.kind == "nothing":  # no node changed: the saved manifest stands (and writing one takes a while)
            shutil.copy(self.saved / "manifest.json", tmp / "manifest.json")
        else:
            plan.manifest.write(str(tmp / "manifest.json"))
        shutil.copy(self.target_path / "sources.json", tmp / "sources.json")
        run = {
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "kind": plan.kind,
            "selected": len(plan.selected),
            "dbt_version": dbt_version,
            "target": self.target,
            "vars": plan.vars,
            "seconds": {k: round(v, 2) for k, v in (seconds or {}).items()},
        }
        (tmp / "run.json").write_text(json.dumps(run, indent=2))
        old = self.state_dir / "last-success.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.saved.exists():
            self.saved.rename(old)
        tmp.rename(self.saved)
        shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ the make-daily path
    def build(self, plan: Plan) -> bool:
        result = self.invoke(["build", *plan.build_args(self.saved)], manifest=plan.manifest, quiet=False)
        return bool(result.success)

    def test_everything(self) -> bool:
        """The weekly job: every data test on every row."""
        return bool(self.invoke(WEEKLY_COMMAND, quiet=False, extra_vars=WEEKLY_VARS).success)


def _reasons(manifest: Any, selected: list[str], fresher: list[SourceFreshness]) -> list[str]:
    """Why the selection is what it is: new data in source tables, else a change in code (named by the nodes
    at the top of what the changed code selects)."""
    chosen = set(selected)
    below = {f.unique_id: _descendants(manifest, [f.unique_id]) & chosen for f in fresher}
    fresher = [f for f in fresher if below[f.unique_id]]  # e.g. a _dlt_loads that feeds no model: no reason
    explained = set().union(*below.values())
    reasons = []
    if fresher:
        models = sum(1 for uid in explained if not uid.startswith("test."))
        tables = ", ".join(f"{f.name} ({f.loaded_at:%Y-%m-%d %H:%M} UTC)" for f in fresher)
        reasons.append(
            f"new data since the last successful run in {tables}: {models} models and seeds downstream, "
            f"{len(explained) - models} data tests"
        )
    changed = chosen - explained
    if changed:
        tops = sorted(uid.split(".")[2] for uid in changed if not (set(manifest.parent_map.get(uid, [])) & changed))
        reasons.append(
            f"code, config or seed changed since the last successful run: {', '.join(tops)} "
            f"({len(changed)} nodes with what is downstream)"
        )
    return reasons


def _descendants(manifest: Any, roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        for child in manifest.child_map.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


# ---------------------------------------------------------------------------------------------- the jobs
@dataclass
class DailyResult:
    exit_code: int  # 0 done, 1 dbt failed or a source is stale, 2 a loader failed, 3 a loader stopped cleanly
    loaders: list[LoaderOutcome]
    plan: Plan | None
    message: str


def run_daily(
    project: DbtProject,
    sources: Iterable[str] | None = None,
    full: bool = False,
    echo: Echo = print,
) -> DailyResult:
    """The whole daily job once: loaders, freshness, the plan, the build, the state."""
    started = time.monotonic()
    wanted = set(sources) if sources is not None else {loader.source for loader in LOADERS}
    outcomes = []
    for loader in LOADERS:
        if loader.source not in wanted:
            continue
        echo(f"daily: loading {loader.source} (python -m loaders {loader.source})")
        outcome = run_loader(loader, loaders_destination(project.target), echo)
        echo(f"daily: {outcome.line}" + (f" in {outcome.seconds:.1f}s" if outcome.exit_code is not None else ""))
        outcomes.append(outcome)
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        message = "; ".join(f"{o.source} loader failed (exit {o.exit_code}): {o.message}" for o in failed)
        echo(f"daily: {message}. dbt did not run; fix it and run again (the other sources' data is built then)")
        return DailyResult(2, outcomes, None, message)

    # "loaders": the whole phase, configuration checks included; the rest of a run is its dbt part
    seconds = {"loaders": time.monotonic() - started}
    seconds.update({f"loader {o.source}": o.seconds for o in outcomes if o.exit_code is not None})
    planned = time.monotonic()
    plan = plan_and_say(project, full, echo)
    seconds["plan"] = time.monotonic() - planned
    echo(f"daily: planned in {seconds['plan']:.1f}s")
    if plan.kind != "nothing":
        echo(f"daily: dbt build {' '.join(plan.build_args(project.saved))}")
        built = time.monotonic()
        if not project.build(plan):
            message = "dbt build failed (see above); the state stays at the last successful run, the next run retries"
            echo(f"daily: {message}")
            return DailyResult(1, outcomes, plan, message)
        seconds["build"] = time.monotonic() - built
    seconds["total"] = time.monotonic() - started
    project.commit(plan, seconds)
    echo(f"daily: state saved in {project.saved} ({seconds['total']:.1f}s in all)")
    return finish(plan, outcomes, echo)


def plan_and_say(project: DbtProject, full: bool, echo: Echo) -> Plan:
    echo("daily: dbt source freshness")
    plan = project.plan(full=full)
    for line in freshness_lines(plan.freshness.values()):
        echo(f"  {line}")
    for line in plan.describe():
        echo(f"daily: {line}" if not line.startswith(" ") else line)
    return plan


def freshness_lines(freshness: Iterable[SourceFreshness]) -> list[str]:
    lines = []
    for f in sorted(freshness, key=lambda f: f.name):
        if not f.loaded:
            lines.append(f"{f.name:<36} not loaded")
        else:
            flag = {"warn": "  WARN: older than the warn threshold", "error": "  STALE: past the error threshold"}
            lines.append(
                f"{f.name:<36} loaded {f.loaded_at:%Y-%m-%d %H:%M} UTC ({f.age_hours:.1f} h ago)"
                + flag.get(f.status, "")
            )
    return lines


def finish(plan: Plan, outcomes: list[LoaderOutcome], echo: Echo) -> DailyResult:
    """The job's result once the build and the state are done: stale sources fail it, a clean loader stop
    makes it 3."""
    if plan.stale:
        message = "stale sources (past source_freshness_error_after_hours): " + ", ".join(
            f"{f.name} ({f.age_hours:.0f} h)" for f in plan.stale
        )
        echo(f"daily: {message}")
        return DailyResult(1, outcomes, plan, message)
    stopped = [o for o in outcomes if o.status == "stopped"]
    if stopped:
        message = "; ".join(f"{o.source} stopped cleanly: {o.message}" for o in stopped)
        echo(f"daily: {message}. What was loaded is built; the next run resumes (exit 3)")
        return DailyResult(3, outcomes, plan, message)
    return DailyResult(0, outcomes, plan, "done")


def run_weekly(project: DbtProject, echo: Echo = print) -> int:
    echo("weekly: dbt test, every data test on every row (data_tests_scope: all)")
    return 0 if project.test_everything() else 1


def absolute_env_paths() -> None:
    """Paths the user gave relative to where they ran the command, made absolute before the job moves to
    the repo root (where dbt, dlt's .dlt/ config and the loaders run)."""
    for name in ("DUCKDB_PATH", "LOADERS_PIPELINES_DIR", "DAILY_STATE_DIR"):
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).resolve())
