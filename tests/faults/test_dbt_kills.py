"""kill -9 inside `dbt build`, then the same command again: the rerun ends with exactly the marts (and raw
tables) of an uninterrupted build, so no half-written model and no stale fingerprint survives the crash.

The build is a daily one (day 2 on top of day 1): incremental models merge new events and the person models
rebuild because persons changed. The kill points are SQL calls in a copy of the project (hooks and one data
test; warehouse/faults.py), so dbt dies exactly there: inside a model's transaction, between a model and its
fingerprint post-hook, after the fingerprint, or while data tests run."""

from __future__ import annotations

import pytest

from tests.faults.support import (
    Row,
    Timer,
    assert_killed,
    assert_ok,
    copy_warehouse,
    dbt_build,
    differences,
    fault_project,
    outcome,
)

POINTS = {
    "int_sessions_sessionized.post": "inside an incremental model (delete+insert done, not committed)",
    "biz_sessions.pre": "between two incremental models (the first committed)",
    "int_marketo_persons_resolved.post": "inside a person-model rebuild (rows replaced, not committed)",
    "biz_leads.before_fingerprint": "between a person model and its fingerprint post-hook",
    "biz_leads.after_fingerprint": "after the fingerprint is written, before the commit",
    "data_tests": "during the data tests",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return fault_project(tmp_path_factory.mktemp("fault_project"))


@pytest.mark.parametrize("point", list(POINTS))
def test_dbt_build_killed_then_rerun(world, project, matrix, tmp_path, point):
    timer = Timer()
    db = copy_warehouse(world.base2, tmp_path)
    assert_killed(dbt_build(db, project, fault=point), f"dbt build (fault at {point})")
    assert_ok(dbt_build(db), "dbt build after the kill")
    problems = differences(db, world.ref2, ("main", "raw_marketo", "raw_salesforce", "raw_web"))
    matrix.add(
        Row(
            f"kill -9 dbt build {POINTS[point]} (`{point}`), rerun",
            outcome(problems, "marts = clean run"),
            seconds=timer.seconds,
        )
    )
    assert not problems
