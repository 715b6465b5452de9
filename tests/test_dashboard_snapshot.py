"""What `dbt build` publishes for the dashboard (macros/dashboard_snapshot.sql), on copies of the demo's
warehouse: the snapshot is the rpt_dashboard_* views exactly; an open dashboard never makes a build fail (while
an open warehouse file does); a new build replaces the snapshot in one step without touching the files the
previous manifest names, and rewrites only the weeks it changed; a build with nothing new, or a failed one,
publishes nothing; the var switches it off."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from dashboard import data
from tests.support import copy_project, land_web_day, query, run_dbt

BUILD = ["build", "--exclude-resource-type", "unit_test"]


def manifest(db: Path) -> list[dict]:
    return json.loads((Path(str(db) + ".dashboard") / "manifest.json").read_text())


def files(db: Path) -> dict[tuple[str, str], os.stat_result]:
    folder = Path(str(db) + ".dashboard")
    return {(p["relation"], p["part"]): (folder / p["file"]).stat() for p in manifest(db)}


def test_the_snapshot_is_exactly_the_dashboard_views(demo):
    folder = Path(str(demo.db) + ".dashboard")
    parts = manifest(demo.db)
    relations = {p["relation"] for p in parts}
    assert relations == set(data.RELATIONS.values())
    assert len({p["build_id"] for p in parts}) == 1
    with duckdb.connect() as con:
        con.execute(f"attach '{demo.db}' as warehouse (read_only)")
        for relation in relations:
            paths = [str(folder / p["file"]) for p in parts if p["relation"] == relation]
            snapshot = f"read_parquet({paths}, hive_partitioning = false)"
            for a, b in ((snapshot, f"warehouse.main.{relation}"), (f"warehouse.main.{relation}", snapshot)):
                (n,) = con.execute(f"select count(*) from (select * from {a} except all select * from {b})").fetchone()
                assert n == 0, f"{relation}: {n} rows of {a} are not in {b}"
            (rows,) = con.execute(f"select count(*) from warehouse.main.{relation}").fetchone()
            assert rows > 0, relation


def test_an_open_dashboard_never_fails_a_build_which_replaces_the_snapshot_whole(demo_copy, tmp_path, monkeypatch):
    db = demo_copy.db
    monkeypatch.setenv("DUCKDB_PATH", str(db))
    monkeypatch.delenv("DASHBOARD_SNAPSHOT_DIR", raising=False)

    # the premise: a process holding the warehouse open, even read-only, makes dbt fail on the file lock
    with duckdb.connect(str(db), read_only=True):
        locked = run_dbt(BUILD, db, check=False)
    assert locked.returncode != 0 and "lock" in (locked.stdout + locked.stderr).lower()

    before = data.current_build(wait=True)
    sessions_before = data.query(before, "select count(*) as n from sessions")["n"][0]
    old_files = files(db)
    old_manifest = manifest(db)

    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    page_views, forms = land_web_day(db, demo_copy.pipelines, tmp_path / "events", now)
    assert page_views and forms
    # the dashboard's connection stays open, and is read, across the build
    built = run_dbt(BUILD, db)
    assert data.query(before, "select count(*) as n from sessions")["n"][0] == sessions_before
    assert "Dashboard snapshot published" in built.stdout

    after = data.current_build(wait=True)
    assert after.id != before.id
    (sessions_now,) = query(db, "select count(*) from biz_sessions")[0]
    assert data.query(after, "select count(*) as n from sessions")["n"][0] == sessions_now > sessions_before

    # the files the previous manifest named are untouched: a reader of it still sees the previous build whole
    for key, stat in old_files.items():
        path = Path(str(db) + ".dashboard") / next(p["file"] for p in old_manifest if (p["relation"], p["part"]) == key)
        assert path.stat().st_mtime_ns == stat.st_mtime_ns and path.stat().st_ino == stat.st_ino, key
    # and only this week's parts were written again; the persons did not change
    week = (now.date() - timedelta(days=now.weekday())).isoformat()
    old = {(p["relation"], p["part"]): p["file"] for p in old_manifest}
    rewritten = {(p["relation"], p["part"]) for p in manifest(db) if old.get((p["relation"], p["part"])) != p["file"]}
    assert rewritten and {part for _, part in rewritten} == {week}, rewritten
    assert {relation for relation, _ in rewritten} <= {
        "rpt_dashboard_sessions",
        "rpt_dashboard_form_emails",
        "rpt_dashboard_touchpoints",
    }

    # a build with nothing new publishes nothing
    text = (Path(str(db) + ".dashboard") / "manifest.json").read_bytes()
    idle = run_dbt(BUILD, db)
    assert "Dashboard snapshot unchanged" in idle.stdout
    assert (Path(str(db) + ".dashboard") / "manifest.json").read_bytes() == text


def test_a_failed_build_publishes_nothing(demo_copy, tmp_path):
    db = demo_copy.db
    before = (Path(str(db) + ".dashboard") / "manifest.json").read_bytes()
    project = copy_project(tmp_path / "project")
    rules = project / "seeds" / "segment_rules.csv"
    rules.write_text(rules.read_text() + "Region,EMEA,10,1,email_domain,sounds_like,.de\n")
    failed = run_dbt(BUILD, db, check=False, project_dir=project)
    assert failed.returncode != 0
    assert "Dashboard snapshot not published" in failed.stdout
    assert (Path(str(db) + ".dashboard") / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("publish", [True, False])
def test_the_snapshot_folder_and_the_switch(demo_copy, tmp_path, monkeypatch, publish):
    folder = tmp_path / "elsewhere"
    monkeypatch.setenv("DASHBOARD_SNAPSHOT_DIR", str(folder))
    run_dbt(["run", "--select", "biz_segment_names"], demo_copy.db, vars={"dashboard_snapshot": publish})
    assert (folder / "manifest.json").exists() == publish
    if publish:  # a first snapshot holds every relation the warehouse has, whatever the run selected
        assert {p["relation"] for p in json.loads((folder / "manifest.json").read_text())} == set(
            data.RELATIONS.values()
        )
