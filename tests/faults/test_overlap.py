"""Two runs on one warehouse at once: loader + loader of the same source, loader + `dbt build`, `dbt build` +
`dbt build`. The second exits at once with exit code 4 and a message naming what runs (command, pid, since
when), or, with WAREHOUSE_LOCK_WAIT_SECONDS, waits for the first and then runs. Either way the end state is a
clean run's, row for row: nothing corrupted, nothing half-written read, nothing loaded twice."""

from __future__ import annotations

import subprocess
import time

from tests.faults.conftest import START
from tests.faults.support import (
    Row,
    Timer,
    copy_warehouse,
    differences,
    finish,
    loader_env,
    marketo_env,
    outcome,
    raw_rows,
    run_loader,
    start_dbt,
    start_loader,
    wait_for_holder,
)
from warehouse.lock import EXIT_BUSY


def _busy(proc_or_rc, output: str, holder: dict, what: str) -> None:
    rc = proc_or_rc.returncode if isinstance(proc_or_rc, subprocess.CompletedProcess) else proc_or_rc
    assert rc == EXIT_BUSY, f"{what} exited {rc}, not {EXIT_BUSY} (busy):\n{output[-3000:]}"
    for part in (holder["command"], f"pid {holder['pid']}", f"since {holder['since']}"):
        assert part in output, f"{what}'s message does not say {part!r}:\n{output[-3000:]}"


def _stuck_marketo_load(world, mkto, db):
    """A Marketo load that holds the warehouse while its export jobs sit in Marketo's queue."""
    mkto.stuck_in_queue = True
    env = loader_env(db, marketo_env(mkto, START))
    first = start_loader("marketo", env)
    return env, first, wait_for_holder(db, first.pid)


def test_loader_and_loader_of_the_same_source(world, matrix, tmp_path):
    timer = Timer()
    db = tmp_path / "warehouse.duckdb"
    with world.marketo() as mkto:
        env, first, holder = _stuck_marketo_load(world, mkto, db)
        second = run_loader("marketo", env)
        _busy(second, second.stderr, holder, "a second marketo loader")
        waiting = start_loader("marketo", {**env, "WAREHOUSE_LOCK_WAIT_SECONDS": "120"})
        time.sleep(1)
        assert waiting.poll() is None, "a loader told to wait did not"
        mkto.stuck_in_queue = False
        assert finish(first) == 0, first.stderr.read()
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0, err
        assert "waiting for the warehouse" in err
    problems = differences(db, world.ref1, ("raw_marketo",))
    matrix.add(
        Row(
            "marketo loader while a marketo load runs: exit 4 naming it; with a wait, runs after it",
            outcome(problems),
            loaded=raw_rows(db, "raw_marketo"),
            seconds=timer.seconds,
        )
    )
    assert not problems


def test_loader_and_dbt_build(world, matrix, tmp_path):
    timer = Timer()
    db = copy_warehouse(world.base2, tmp_path, with_state=True)
    with world.marketo(world.leads1) as mkto:
        mkto.upsert_leads(world.leads2)
        _, first, holder = _stuck_marketo_load(world, mkto, db)
        busy = start_dbt(db, tmp_path / "busy.log")
        _busy(finish(busy), (tmp_path / "busy.log").read_text(), holder, "dbt build during a load")
        waiting = start_dbt(db, tmp_path / "wait.log", WAREHOUSE_LOCK_WAIT_SECONDS="300")
        time.sleep(8)  # dbt parses, then asks for the warehouse
        assert waiting.poll() is None, "a dbt build told to wait did not"
        mkto.stuck_in_queue = False
        assert finish(first) == 0, first.stderr.read()
        assert finish(waiting) == 0, (tmp_path / "wait.log").read_text()[-3000:]
    problems = differences(db, world.ref2, ("main", "raw_marketo", "raw_salesforce", "raw_web"))
    matrix.add(
        Row(
            "dbt build while a loader runs: exit 4 naming it; with a wait, builds after it",
            outcome(problems, "marts = clean run"),
            seconds=timer.seconds,
        )
    )
    assert not problems


def test_dbt_build_and_dbt_build(world, matrix, tmp_path):
    timer = Timer()
    db = copy_warehouse(world.base2, tmp_path)
    first = start_dbt(db, tmp_path / "first.log")
    holder = wait_for_holder(db, first.pid)
    second = start_dbt(db, tmp_path / "second.log")
    _busy(finish(second), (tmp_path / "second.log").read_text(), holder, "a second dbt build")
    assert first.poll() is None, "the first build ended before the second asked: the case proved nothing"
    waiting = start_dbt(db, tmp_path / "wait.log", WAREHOUSE_LOCK_WAIT_SECONDS="300")
    assert finish(first) == 0, (tmp_path / "first.log").read_text()[-3000:]
    assert finish(waiting) == 0, (tmp_path / "wait.log").read_text()[-3000:]
    problems = differences(db, world.ref2, ("main", "raw_marketo", "raw_salesforce", "raw_web"))
    matrix.add(
        Row(
            "dbt build while a dbt build runs: exit 4 naming it; with a wait, builds after it",
            outcome(problems, "marts = clean run"),
            seconds=timer.seconds,
        )
    )
    assert not problems
