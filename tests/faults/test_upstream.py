"""Upstream answers that are wrong but well-formed: the loader notices, says so, and loses nothing.

- Marketo's job status says more records than the file holds (numberOfRecords disagrees with the file);
- a Salesforce or Dynamics page repeats a record an earlier page served;
- a Dynamics @odata.nextLink loops back to a page already read.
Each ends, after the loader's own advice (run again where it exits 2), with exactly a clean run's raw tables."""

from __future__ import annotations

from tests.faults.conftest import START
from tests.faults.support import (
    Row,
    Timer,
    assert_ok,
    differences,
    dynamics_env,
    loader_env,
    marketo_env,
    raw_rows,
    run_loader,
    salesforce_env,
)


def _record(matrix, timer, case, problems, db, schema, said):
    matrix.add(
        Row(
            case,
            ("noticed, said so; raw = clean run" if not problems else "DIFFERS: " + "; ".join(problems[:3]))
            + f" ({said})",
            loaded=raw_rows(db, schema),
            seconds=timer.seconds,
        )
    )
    assert not problems


def test_marketo_number_of_records_disagrees_with_the_file(world, matrix, tmp_path):
    timer = Timer()
    db = tmp_path / "warehouse.duckdb"
    with world.marketo() as mkto:
        env = loader_env(db, marketo_env(mkto, START))
        mkto.miscount_next_export = 3
        first = run_loader("marketo", env)
        assert first.returncode == 2, first.stderr
        assert "Marketo said" in first.stderr and "the rows are loaded" in first.stderr, first.stderr
        assert_ok(run_loader("marketo", env), "the marketo rerun")
    problems = differences(db, world.ref1, ("raw_marketo",))
    _record(
        matrix,
        timer,
        "Marketo status: numberOfRecords 3 more than the file holds",
        problems,
        db,
        "raw_marketo",
        "exit 2 naming the export; rerun completes",
    )


def test_salesforce_page_repeats_a_record(world, matrix, tmp_path):
    timer = Timer()
    db = tmp_path / "warehouse.duckdb"
    with world.salesforce(page_size=40, vary_page_sizes=False) as sf:
        sf.repeat_seen_record_pages = 2
        run = run_loader("salesforce", loader_env(db, salesforce_env(sf)))
        assert_ok(run, "salesforce load")
        assert "served twice within a query" in run.stderr + run.stdout, run.stderr
    problems = differences(db, world.ref1, ("raw_salesforce",))
    _record(
        matrix,
        timer,
        "Salesforce: a later page repeats a record already served (twice)",
        problems,
        db,
        "raw_salesforce",
        "exit 0, repeats counted and loaded once",
    )


def test_dynamics_page_repeats_a_record_and_next_link_loops(world, matrix, tmp_path):
    timer = Timer()
    clean, db = tmp_path / "clean" / "warehouse.duckdb", tmp_path / "run" / "warehouse.duckdb"
    with world.dynamics() as dyn:
        assert_ok(run_loader("dynamics", loader_env(clean, dynamics_env(dyn))), "clean dynamics load")
        dyn.repeat_seen_record_pages = 2
        run = run_loader("dynamics", loader_env(db, dynamics_env(dyn)))
        assert_ok(run, "dynamics load")
        assert "served twice within a query" in run.stderr + run.stdout, run.stderr
    problems = differences(db, clean, ("raw_dynamics",))
    _record(
        matrix,
        timer,
        "Dynamics: a later page repeats a record already served (twice)",
        problems,
        db,
        "raw_dynamics",
        "exit 0, repeats counted and loaded once",
    )

    timer = Timer()
    db = tmp_path / "loop" / "warehouse.duckdb"
    with world.dynamics() as dyn:
        env = loader_env(db, dynamics_env(dyn))
        dyn.loop_next_link_times = 1
        first = run_loader("dynamics", env)
        assert first.returncode == 2, first.stderr
        assert "led back to a page already read" in first.stderr, first.stderr
        assert_ok(run_loader("dynamics", env), "the dynamics rerun")
    problems = differences(db, clean, ("raw_dynamics",))
    _record(
        matrix,
        timer,
        "Dynamics: @odata.nextLink loops back to a page already read",
        problems,
        db,
        "raw_dynamics",
        "exit 2 after loading what was read; rerun completes",
    )
