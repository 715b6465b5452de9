"""Segments are configuration (B6): a category added to the seed alone shows up in the marts; bad rows fail
the build with a message naming the row."""

from pathlib import Path

import duckdb

from tests.support import copy_project, query, run_dbt

PERSONS = [
    # id, email, sfdc_type
    (1, "ann@acme.de", None),
    (2, "bob@globex.com", None),
    (3, "cy@initech.fr", "Contact"),
]


def seed_marketo(db: Path) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute("create schema raw_marketo")
        con.execute("""create table raw_marketo.leads (id bigint, email varchar, created_at timestamptz,
                       updated_at timestamptz, sfdc_type varchar, lead_status varchar, _dlt_load_id varchar)""")
        for pid, email, sfdc_type in PERSONS:
            con.execute(
                "insert into raw_marketo.leads values (?, ?, timestamptz '2025-01-01 00:00:00+00', "
                "timestamptz '2025-01-02 00:00:00+00', ?, 'New', '1700000000.1')",
                [pid, email, sfdc_type],
            )


def test_default_source_category(tmp_path):
    db = tmp_path / "w.duckdb"
    seed_marketo(db)
    run_dbt(["build"], db)
    assert query(db, "select category, category_column, segment_name from biz_segment_names order by priority") == [
        ("Source", "category1", "Marketo"),
        ("Source", "category1", "CRM"),
    ]
    assert set(query(db, "select person_id, category1, category2 from int_persons_segmented")) == {
        ("1", "Marketo", None),
        ("2", "Marketo", None),
        ("3", "Marketo", None),
    }


def test_a_region_category_from_the_seed_alone(tmp_path):
    project = copy_project(tmp_path / "project")
    with open(project / "seeds" / "segment_rules.csv", "a") as f:
        f.write("Region,EMEA,10,1,email_domain,ends_with,.de\n")
        f.write("Region,EMEA,10,2,email_domain,ends_with,.fr\n")
        f.write("Region,Americas,11,1,email_domain,ends_with,.com\n")
    db = tmp_path / "w.duckdb"
    seed_marketo(db)
    run_dbt(["build"], db, project_dir=project)
    assert ("Region", "category2", "EMEA") in query(
        db, "select category, category_column, segment_name from biz_segment_names"
    )
    assert set(query(db, "select person_id, category1, category2 from int_persons_segmented")) == {
        ("1", "Marketo", "EMEA"),
        ("2", "Marketo", "Americas"),
        ("3", "Marketo", "EMEA"),
    }


def test_a_bad_rule_fails_the_build_naming_the_row(tmp_path):
    project = copy_project(tmp_path / "project")
    with open(project / "seeds" / "segment_rules.csv", "a") as f:
        f.write("Region,EMEA,10,1,country_code,equals,DE\n")
    db = tmp_path / "w.duckdb"
    seed_marketo(db)
    proc = run_dbt(["build"], db, project_dir=project, check=False)
    assert proc.returncode != 0
    assert "segment_rules.csv row 4 (Region / EMEA): unknown field 'country_code'" in proc.stdout
