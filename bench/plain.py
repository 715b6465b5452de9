"""The dbt project's rules as one plain DuckDB SQL script (bench/plain.sql): run it, or check it against dbt.

  python -m bench.plain <warehouse.duckdb>           # build schema `plain` from the raw tables; print seconds
  python -m bench.plain --check <warehouse.duckdb>   # compare every plain.* mart with dbt's (main.*)

The script is the reference of issue 6's goal "dbt within 1.5x of the same rules hand-written as one plain
SQL script". Before it runs, `plain.src_*` views give it the raw tables with typed columns (a table or column
the loaders never created reads as empty / null, as dbt's `source_columns` macro does); they are views, so
they cost nothing. The check compares row counts and the full contents both ways (EXCEPT ALL) on every
column both sides have, except the run-specific technical columns in TECHNICAL_COLUMNS.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import duckdb

SCRIPT = Path(__file__).with_name("plain.sql")

# raw table -> {column: type}, as the dbt staging models read them (models/staging/*/stg_*.sql)
RAW_TABLES: dict[str, dict[str, str]] = {
    "raw_marketo.leads": {
        "id": "bigint",
        "email": "varchar",
        "company": "varchar",
        "website": "varchar",
        "lead_status": "varchar",
        "lead_source": "varchar",
        "sfdc_type": "varchar",
        "sfdc_lead_id": "varchar",
        "sfdc_contact_id": "varchar",
        "sfdc_account_id": "varchar",
        "msft_type": "varchar",
        "msft_lead_id": "varchar",
        "msft_contact_id": "varchar",
        "msft_account_id": "varchar",
        "created_at": "timestamptz",
        "updated_at": "timestamptz",
        "_read_at": "timestamptz",
    },
    "raw_marketo.deleted_leads": {"id": "bigint", "lead_id": "bigint", "activity_date": "timestamptz"},
    "raw_marketo.leads_rejected": {"id": "varchar", "_read_at": "timestamptz"},
    "raw_marketo.complete_exports": {
        "created_from": "timestamptz",
        "created_to": "timestamptz",
        "read_from": "timestamptz",
        "completed_at": "timestamptz",
    },
    "raw_marketo.lead_company_fields": {
        "id": "bigint",
        "company": "varchar",
        "website": "varchar",
        "_read_at": "timestamptz",
    },
    "raw_salesforce.lead": {
        "id": "varchar",
        "email": "varchar",
        "company": "varchar",
        "website": "varchar",
        "status": "varchar",
        "lead_source": "varchar",
        "is_converted": "boolean",
        "converted_contact_id": "varchar",
        "converted_account_id": "varchar",
        "converted_date": "timestamptz",
        "is_deleted": "boolean",
        "created_date": "timestamptz",
        "last_modified_date": "timestamptz",
    },
    "raw_salesforce.contact": {
        "id": "varchar",
        "email": "varchar",
        "account_id": "varchar",
        "lead_source": "varchar",
        "is_deleted": "boolean",
        "created_date": "timestamptz",
        "last_modified_date": "timestamptz",
    },
    "raw_salesforce.account": {
        "id": "varchar",
        "name": "varchar",
        "website": "varchar",
        "is_deleted": "boolean",
        "created_date": "timestamptz",
        "last_modified_date": "timestamptz",
    },
    "raw_dynamics.leads": {
        "leadid": "varchar",
        "emailaddress1": "varchar",
        "companyname": "varchar",
        "websiteurl": "varchar",
        "statecode": "varchar",
        "statuscode": "varchar",
        "leadsourcecode": "varchar",
        "_parentaccountid_value": "varchar",
        "_parentcontactid_value": "varchar",
        "is_deleted": "boolean",
        "createdon": "timestamptz",
        "modifiedon": "timestamptz",
    },
    "raw_dynamics.contacts": {
        "contactid": "varchar",
        "emailaddress1": "varchar",
        "_parentcustomerid_value": "varchar",
        "leadsourcecode": "varchar",
        "is_deleted": "boolean",
        "createdon": "timestamptz",
        "modifiedon": "timestamptz",
    },
    "raw_dynamics.accounts": {
        "accountid": "varchar",
        "name": "varchar",
        "websiteurl": "varchar",
        "is_deleted": "boolean",
        "createdon": "timestamptz",
        "modifiedon": "timestamptz",
    },
    "raw_web.page_views": {
        "id": "varchar",
        "cookie_id": "varchar",
        "event_date": "timestamptz",
        "current_page_raw": "varchar",
        "referrer_page_raw": "varchar",
        "page_title": "varchar",
        "ip_address": "varchar",
        "user_agent_string": "varchar",
        "_dlt_load_id": "varchar",
    },
    "raw_web.form_submits": {
        "id": "varchar",
        "cookie_id": "varchar",
        "event_date": "timestamptz",
        "current_page_raw": "varchar",
        "email": "varchar",
        "form_identifier": "varchar",
        "ip_address": "varchar",
        "user_agent_string": "varchar",
        "_dlt_load_id": "varchar",
    },
    "raw_web._dlt_loads": {"load_id": "varchar", "status": "bigint"},
}

# the marts the script builds, all compared in full
MARTS = [
    "biz_leads",
    "biz_contacts",
    "biz_accounts",
    "biz_account_to_emails",
    "dq_marketo_dangling_crm_ids",
    "biz_segment_names",
    "biz_channels",
    "biz_page_views",
    "biz_form_submits",
    "biz_sessions",
    "biz_email_to_visitor_ids",
    "biz_touchpoints",
    "rpt_touchpoints_by_month_channel_segment",
    "rpt_new_persons_by_month_source_channel",
    "rpt_persons_reconciliation",
    "rpt_web_traffic_by_day_landing_page_channel",
]
# run-specific or incremental bookkeeping: not part of the rules
TECHNICAL_COLUMNS = {"_processed_at", "_person_fingerprint", "_dlt_id"}
# marts that hold rows whenever the Marketo and web loaders landed anything: two empty sides of these
# compare equal but prove nothing (a warehouse no loader wrote), so the check refuses them
MUST_HOLD_ROWS = ["biz_leads", "biz_page_views", "biz_sessions", "biz_touchpoints", "biz_email_to_visitor_ids"]


def source_views_sql(con: duckdb.DuckDBPyConnection) -> str:
    """`create view plain.src_<schema>_<table>` for each raw table: typed columns, UTC timestamp_ntz."""
    present: dict[str, set[str]] = {}
    for schema, table, column in con.execute(
        "select table_schema, table_name, column_name from information_schema.columns"
    ).fetchall():
        present.setdefault(f"{schema}.{table}", set()).add(column.lower())
    out = ["create schema if not exists plain;"]
    for table, columns in RAW_TABLES.items():
        have = present.get(table)
        exprs = []
        for name, kind in columns.items():
            value = f'cast("{name}" as {kind})' if have and name in have else f"cast(null as {kind})"
            if kind == "timestamptz":
                value = f"cast({value} at time zone 'UTC' as timestamp)"
            exprs.append(f"{value} as {name}")
        source = f"from {table}" if have else "where false"
        view = "plain.src_" + table.replace(".", "_").replace("raw_", "", 1)
        out.append(f"create or replace view {view} as select {', '.join(exprs)} {source};")
    return "\n".join(out)


def connect(db: str | Path) -> duckdb.DuckDBPyConnection:
    """The settings dbt's profile uses: UTC session time zone, the same memory cap."""
    con = duckdb.connect(str(db))
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set memory_limit = '{os.environ.get('DUCKDB_MEMORY_LIMIT', '3GB')}'")
    return con


def run(db: str | Path, timings: bool = False) -> float:
    """Build schema `plain` in `db`; seconds taken (per statement printed when timings)."""
    started = time.monotonic()
    with connect(db) as con:
        con.execute(source_views_sql(con))
        for statement in split_statements(SCRIPT.read_text()):
            t = time.monotonic()
            con.execute(statement)
            if timings:
                head = " ".join(statement.split()[:6])
                print(f"{time.monotonic() - t:8.2f}s  {head}", flush=True)
    return time.monotonic() - started


def split_statements(script: str) -> list[str]:
    """Statements of plain.sql (no semicolons inside strings or comments there)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def check(db: str | Path, samples: int = 5) -> list[str]:
    """Differences between plain.<mart> and dbt's main.<mart>: [] when every mart matches and the marts of
    MUST_HOLD_ROWS hold rows (equal empty tables are no evidence that the two sides apply the same rules)."""
    problems = []
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        for mart in MARTS:
            cols = {
                side: [
                    c
                    for (c,) in con.execute(
                        "select column_name from information_schema.columns "
                        "where table_schema = ? and table_name = ? order by ordinal_position",
                        [side, mart],
                    ).fetchall()
                    if c not in TECHNICAL_COLUMNS
                ]
                for side in ("main", "plain")
            }
            if not cols["main"] or not cols["plain"]:
                problems.append(f"{mart}: missing in {'main (dbt)' if not cols['main'] else 'plain'}")
                continue
            only = set(cols["main"]) ^ set(cols["plain"])
            if only:
                problems.append(
                    f"{mart}: columns only in dbt {sorted(set(cols['main']) - set(cols['plain']))}, "
                    f"only in plain {sorted(set(cols['plain']) - set(cols['main']))}"
                )
            shared = ", ".join(f'"{c}"' for c in cols["main"] if c in cols["plain"])
            (n_dbt,) = con.execute(f"select count(*) from main.{mart}").fetchone()
            (n_plain,) = con.execute(f"select count(*) from plain.{mart}").fetchone()
            diffs = []
            for label, a, b in (("dbt only", "main", "plain"), ("plain only", "plain", "main")):
                query = f"select {shared} from {a}.{mart} except all select {shared} from {b}.{mart}"
                (n,) = con.execute(f"select count(*) from ({query})").fetchone()
                if n:
                    rows = con.execute(f"{query} limit {samples}").fetchall()
                    diffs.append((label, n, rows))
            status = "ok" if n_dbt == n_plain and not diffs else "DIFFERS"
            if status == "ok" and not n_dbt and mart in MUST_HOLD_ROWS:
                status = "EMPTY"
                problems.append(
                    f"{mart}: empty on both sides, nothing compared (did the loaders land raw data in this warehouse?)"
                )
            print(f"{mart:48s} dbt {n_dbt:>10,}  plain {n_plain:>10,}  {status}")
            if n_dbt != n_plain:
                problems.append(f"{mart}: {n_dbt} rows in dbt, {n_plain} in plain")
            for label, n, rows in diffs:
                problems.append(f"{mart}: {n} rows {label}, e.g.\n" + "\n".join(f"    {r}" for r in rows))
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plain", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("db", help="the DuckDB warehouse dbt built")
    parser.add_argument("--check", action="store_true", help="compare plain.* with dbt's marts (no build)")
    parser.add_argument("--timings", action="store_true", help="print each statement's time")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.db)
        for p in problems:
            print(p)
        print("plain SQL matches dbt" if not problems else f"{len(problems)} differences")
        return 1 if problems else 0
    print(f"{run(args.db, timings=args.timings):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
