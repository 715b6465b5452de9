"""`dbt docs generate` works, and every column of every mart BI reads (biz_*, rpt_*, dq_*) is described.

The catalog (the columns the built tables really have) is compared with the manifest (the YAML), so a
column added to a mart's SQL without a description fails here, not in a user's BI tool."""

from __future__ import annotations

import json

import pytest

from tests.conftest import engine_params
from tests.support import query, run_dbt

MART_PREFIXES = ("biz_", "rpt_", "dq_")


def test_docs_generate_and_every_mart_column_described(tmp_path):
    path = tmp_path / "warehouse.duckdb"
    # no raw data: every mart builds empty, which is enough for the catalog to list its columns
    run_dbt(["build", "--exclude", "test_type:unit", "resource_type:test"], path)
    run_dbt(["docs", "generate"], path)
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    assert (tmp_path / "target" / "index.html").exists()

    marts = {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["name"].startswith(MART_PREFIXES)
    }
    assert any(n["name"].startswith("rpt_") for n in marts.values())
    gaps = []
    for uid, node in sorted(marts.items()):
        if not node["description"].strip():
            gaps.append(f"{node['name']}: no model description")
        built_columns = catalog["nodes"][uid]["columns"]
        assert built_columns, f"{node['name']} is missing from the catalog"
        documented = {name.lower(): col for name, col in node["columns"].items()}
        for column in built_columns:
            col = documented.get(column.lower())
            if col is None or not col["description"].strip():
                gaps.append(f"{node['name']}.{column}")
        gaps += [
            f"{node['name']}.{name}: documented, not built"
            for name in documented
            if name not in {c.lower() for c in built_columns}
        ]
    assert not gaps, "undescribed mart columns:\n" + "\n".join(gaps)
    # every mart is a contract: its declared types are checked at build, and its not_null constraints are
    # the warehouse's own (a null never lands in a mart)
    assert not [n["name"] for n in marts.values() if not n["config"]["contract"]["enforced"]]
    declared_not_null = {
        (node["name"], name)
        for node in marts.values()
        for name, col in node["columns"].items()
        if any(c["type"] == "not_null" for c in col["constraints"])
    }
    assert ("biz_touchpoints", "id") in declared_not_null
    not_nullable = set(
        query(path, "select table_name, column_name from information_schema.columns where is_nullable = 'NO'")
    )
    assert declared_not_null <= not_nullable, sorted(declared_not_null - not_nullable)
    # the 'new' data-test scope (macros/data_tests_scope.sql) reads a model's columns from its YAML: every
    # model, mart or not, that has a scope column must document it, or its tests read every row
    for uid, node in sorted(manifest["nodes"].items()):
        if node["resource_type"] != "model" or uid not in catalog["nodes"]:
            continue
        built = {c.lower() for c in catalog["nodes"][uid]["columns"]}
        documented = {c.lower() for c in node["columns"]}
        # the first of these a model has is its scope column
        column = next((c for c in ("_processed_at", "_dlt_load_id") if c in built), None)
        if column and column not in documented:
            gaps.append(f"{node['name']}.{column}: built, not documented (its tests would read every row)")
    assert not gaps, "scope columns not documented:\n" + "\n".join(gaps)


@pytest.mark.parametrize("engine", engine_params())
def test_a_fresh_project_parses_compiles_and_documents_against_an_empty_warehouse(engine, new_warehouse, tmp_path):
    """Nothing loaded, nothing built, no seed: what a new user runs first works on every target (the compile-time
    queries, for seeds, fingerprints and test scopes, find nothing and say so instead of failing)."""
    warehouse = new_warehouse(engine, tmp_path, "fresh")
    # parses and compiles every node, then reads the catalog
    warehouse.dbt(["docs", "generate"])
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    compiled = [n for n in manifest["nodes"].values() if n["resource_type"] == "model" and n.get("compiled_code")]
    assert len(compiled) > 30
    assert (tmp_path / "target" / "catalog.json").exists()
