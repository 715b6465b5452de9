"""Source freshness on every source table (macros/dlt_loaded_at.sql), on hand-built raw tables and the real
`dbt source freshness`: a table is as fresh as the last completed dlt load that wrote rows into it."""

from __future__ import annotations

import json

import duckdb

from tests.support import run_dbt

RAW = """
create schema raw_web;
create schema raw_marketo;
create table raw_web._dlt_loads (load_id varchar, schema_name varchar, status bigint, inserted_at timestamptz);
insert into raw_web._dlt_loads values
    ('1700000001.1', 'web', 0, timestamptz '2026-03-01 06:00:00+00'),
    ('1700000002.1', 'web', 0, timestamptz '2026-03-02 06:00:00+00'),  -- wrote form submits only
    ('1700000003.1', 'web', 1, timestamptz '2026-03-03 06:00:00+00');  -- not completed
create table raw_web.page_views (id varchar, cookie_id varchar, event_date timestamptz, _dlt_load_id varchar);
insert into raw_web.page_views values
    ('p1', 'c1', timestamptz '2026-02-28 10:00:00+00', '1700000001.1'),
    ('p2', 'c1', timestamptz '2026-03-02 10:00:00+00', '1700000003.1');  -- rows of the unfinished load
create table raw_web.form_submits (id varchar, cookie_id varchar, event_date timestamptz, _dlt_load_id varchar);
insert into raw_web.form_submits values ('f1', 'c1', timestamptz '2026-03-01 10:00:00+00', '1700000002.1');
create table raw_marketo._dlt_loads (load_id varchar, schema_name varchar, status bigint, inserted_at timestamptz);
insert into raw_marketo._dlt_loads values ('1700000005.1', 'marketo', 0, timestamptz '2026-03-04 06:00:00+00');
-- landed by another tool, without dlt's load id: the dataset's latest completed load
create table raw_marketo.leads (id bigint, email varchar);
insert into raw_marketo.leads values (1, 'a@acme.com');
"""


def test_each_table_is_as_fresh_as_the_last_completed_load_that_wrote_it(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute(RAW)
    run_dbt(["source", "freshness"], path, check=False)  # stale tables make it exit 1
    results = json.loads((tmp_path / "target" / "sources.json").read_text())["results"]
    loaded = {r["unique_id"].split(".", 2)[-1]: r["max_loaded_at"][:19] for r in results}
    assert loaded["raw_web.page_views"] == "2026-03-01T06:00:00"  # not the unfinished load's
    assert loaded["raw_web.form_submits"] == "2026-03-02T06:00:00"
    assert loaded["raw_web._dlt_loads"] == "2026-03-02T06:00:00"
    assert loaded["raw_marketo.leads"] == "2026-03-04T06:00:00"
    # tables that do not exist (CRMs never loaded, no quarantined row yet): never loaded, not an error
    assert loaded["raw_salesforce.lead"] == loaded["raw_marketo.leads_rejected"] == "0001-01-01T00:00:00"
    statuses = {r["status"] for r in results}
    assert "runtime error" not in statuses
    # every source table is checked, with its threshold
    assert len(results) == 17
    by_name = {r["unique_id"].split(".", 2)[-1]: r["criteria"] for r in results}
    assert by_name["raw_web.page_views"]["warn_after"] == {"count": 36, "period": "hour"}
    assert by_name["raw_marketo.deleted_leads"]["warn_after"] == {"count": 30, "period": "day"}
    # written by complete re-export passes only (issue 13): a quiet day is normal
    assert by_name["raw_marketo.complete_exports"]["warn_after"] == {"count": 30, "period": "day"}
