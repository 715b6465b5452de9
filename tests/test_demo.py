"""`make demo` end to end (the README's first command), small: emulators, loaders, dbt build, summary."""

from tests.support import query


def test_demo_runs_end_to_end(demo):
    db = demo.db
    assert "Marketo persons loaded" in demo.stdout
    assert "touchpoints by channel" in demo.stdout
    assert str(db) in demo.stdout
    # it ends by saying how to open the dashboards over this warehouse
    last = demo.stdout.strip().splitlines()[-1]
    assert last.startswith("Dashboards:") and f"DUCKDB_PATH={db} make dashboard" in last, last
    (loaded,) = query(db, "select count(*) from raw_marketo.leads")[0]
    (marts,) = query(
        db,
        "select count(*) from (select id from biz_leads where source_system = 'Marketo' "
        "union all select id from biz_contacts where source_system = 'Marketo')",
    )[0]
    assert loaded == marts == 400
    crm = dict(query(db, "select source_system, count(*) filter (where is_duplicate) from biz_leads group by 1"))
    assert crm["Marketo"] > 0 and crm["Crm"] == 0  # the CRM sync's twins are flagged on the Marketo side
    (touchpoints,) = query(db, "select count(*) from biz_touchpoints")[0]
    assert touchpoints > 0
    # the build published what the dashboard reads
    assert (db.parent / (db.name + ".dashboard") / "manifest.json").is_file()
