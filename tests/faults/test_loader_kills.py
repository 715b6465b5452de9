"""kill -9 each loader at a named point, then the same command again: the raw tables end exactly as an
uninterrupted run leaves them (row for row, both ways), nothing twice.

Points (warehouse/faults.py; a no-op unless MARKETO_PEOPLE_FAULT_AT names one): Marketo waiting on an export
job, mid-download, mid-load into the warehouse (some tables of a dlt package committed, the package not),
between two windows' commits; the web loader after reading its files and mid-load; Salesforce and Dynamics
mid-extract (after a page) and mid-load. The marts are a function of the raw tables (the dbt cases compare
marts)."""

from __future__ import annotations

import pytest

from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_leads
from tests.faults.conftest import START
from tests.faults.support import (
    Row,
    Timer,
    assert_killed,
    assert_ok,
    differences,
    dynamics_env,
    loader_env,
    marketo_env,
    outcome,
    raw_rows,
    run_loader,
    salesforce_env,
    web_env,
)

CASES = {
    "marketo.export_wait": ("marketo", "waiting on an export job"),
    "marketo.mid_load": ("marketo", "mid-load into the warehouse"),
    "marketo.between_windows@1": ("marketo", "between two windows' commits"),
    "web.extracted": ("web", "after reading the files, before loading"),
    "web.mid_load": ("web", "mid-load into the warehouse"),
    "salesforce.page@2": ("salesforce", "mid-extract, after a page"),
    "salesforce.mid_load": ("salesforce", "mid-load into the warehouse"),
}


def _env(world, tmp_path, mkto, sf):
    bucket = world.bucket(tmp_path / "bucket", world.web1)
    return loader_env(
        tmp_path / "warehouse.duckdb", {**marketo_env(mkto, START), **salesforce_env(sf), **web_env(bucket)}
    )


@pytest.mark.parametrize("fault", list(CASES))
def test_loader_killed_then_rerun(world, matrix, tmp_path, fault):
    source, where = CASES[fault]
    timer = Timer()
    with world.marketo() as mkto, world.salesforce(page_size=50, vary_page_sizes=False) as sf:
        env = _env(world, tmp_path, mkto, sf)
        killed = run_loader(source, env, fault=fault)
        assert_killed(killed, f"{source} loader (fault at {fault})")
        rerun = run_loader(source, env)
        assert_ok(rerun, f"{source} loader after the kill")
    db = tmp_path / "warehouse.duckdb"
    problems = differences(db, world.ref1, (f"raw_{source}",))
    matrix.add(
        Row(
            f"kill -9 {source} loader {where} (`{fault}`), rerun",
            outcome(problems),
            loaded=raw_rows(db, f"raw_{source}"),
            seconds=timer.seconds,
        )
    )
    assert not problems


def test_marketo_killed_mid_download(world, matrix, tmp_path):
    """A file bigger than one download chunk (1 MB), killed after its first chunk is on disk: the rerun
    resumes the same job's file with a Range request and lands every person once."""
    timer = Timer()
    big = generate_leads(6000, seed=23, start=START, end=START + (world.leads1.createdAt.max() - START) / 4)
    with MarketoEmulator(big, workdir=tmp_path / "emu", status_update_seconds=0) as mkto:
        mkto.enforce_rate_limits = False
        clean = loader_env(tmp_path / "clean" / "warehouse.duckdb", marketo_env(mkto, START))
        assert_ok(run_loader("marketo", clean), "clean marketo load")
        served_clean = mkto.stats.file_bytes_served
        env = loader_env(tmp_path / "run" / "warehouse.duckdb", marketo_env(mkto, START))
        assert_killed(run_loader("marketo", env, fault="marketo.download"), "marketo loader (mid-download)")
        partial = list((tmp_path / "run" / "pipelines").rglob("exports/*.csv"))
        assert partial and partial[0].stat().st_size > 0, "the kill left no partial file to resume"
        on_disk = partial[0].stat().st_size
        assert_ok(run_loader("marketo", env), "marketo loader after the kill")
        served_after = mkto.stats.file_bytes_served - served_clean
    db = tmp_path / "run" / "warehouse.duckdb"
    problems = differences(db, tmp_path / "clean" / "warehouse.duckdb", ("raw_marketo",))
    matrix.add(
        Row(
            f"kill -9 marketo loader mid-download (`marketo.download`, {on_disk / 1e6:.1f} MB on disk), rerun",
            (outcome(problems)) + f"; file served {served_after / served_clean:.2f}x for the two runs",
            loaded=raw_rows(db, "raw_marketo"),
            seconds=timer.seconds,
        )
    )
    assert not problems


@pytest.mark.parametrize(
    "fault,where",
    [("dynamics.page@2", "mid-extract, after a page"), ("dynamics.mid_load", "mid-load into the warehouse")],
)
def test_dynamics_killed_then_rerun(world, matrix, tmp_path, fault, where):
    timer = Timer()
    clean, db = tmp_path / "clean" / "warehouse.duckdb", tmp_path / "run" / "warehouse.duckdb"
    with world.dynamics() as dyn:
        assert_ok(run_loader("dynamics", loader_env(clean, dynamics_env(dyn))), "clean dynamics load")
        env = loader_env(db, dynamics_env(dyn))
        assert_killed(run_loader("dynamics", env, fault=fault), f"dynamics loader (fault at {fault})")
        assert_ok(run_loader("dynamics", env), "dynamics loader after the kill")
    problems = differences(db, clean, ("raw_dynamics",))
    matrix.add(
        Row(
            f"kill -9 dynamics loader {where} (`{fault}`), rerun",
            outcome(problems),
            loaded=raw_rows(db, "raw_dynamics"),
            seconds=timer.seconds,
        )
    )
    assert not problems
