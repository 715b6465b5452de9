"""`make demo` end to end (the README's first command), small: emulators, loaders, dbt build, summary."""

import os
import subprocess
import sys

from tests.support import REPO, query


def test_demo_runs_end_to_end(tmp_path):
    db = tmp_path / "demo.duckdb"
    env = {**os.environ, "DUCKDB_PATH": str(db), "DEMO_PERSONS": "400", "LOADERS_PIPELINES_DIR": str(tmp_path / "p")}
    proc = subprocess.run(
        [sys.executable, "-m", "sandbox.demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Marketo persons loaded" in proc.stdout
    assert "touchpoints by channel" in proc.stdout
    assert str(db) in proc.stdout
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
