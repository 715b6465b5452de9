"""`make demo`: the whole pipeline on synthetic data, against local API emulators, on one dbt target.

1. generate sandbox persons (and what the other sources need),
2. start the emulators on 127.0.0.1,
3. run the real loaders (`python -m loaders <source>`) against them, as a user would,
4. run `dbt build`,
5. print what landed and a query to try.

Env: DEMO_PERSONS (default 5000), DEMO_PAGE_VIEWS (default 20 per person), DEMO_SEED (default 42), and the
target (`make demo TARGET=...`, i.e. DBT_TARGET):
- duckdb (default): DUCKDB_PATH (default warehouse.duckdb at the repo root; the demo starts that default
  file afresh, but never deletes a file you named yourself);
- postgres: the loaders land with `--destination postgres` on the server libpq's PG* variables name; with
  no PGHOST set, the demo runs a throwaway server of its own (Debian's postgresql binaries) and stops it;
- spark: the loaders write Parquet under LAKE_PATH (default lake/ at the repo root) with `--destination
  filesystem`, and dbt builds in a local Spark session (Java 17) into SPARK_WAREHOUSE_DIR (default
  spark-warehouse/); the demo starts both default folders afresh.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
TARGETS = {"duckdb": [], "postgres": ["--destination", "postgres"], "spark": ["--destination", "filesystem"]}


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def run(cmd: list[str], env: dict[str, str]) -> None:
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env)
    if proc.returncode != 0:
        sys.exit(f"demo: `{' '.join(cmd)}` failed with exit code {proc.returncode}")
    print(f"    ({time.monotonic() - started:.1f}s)")


def main() -> int:
    target = os.environ.get("DBT_TARGET") or "duckdb"
    if target not in TARGETS:
        sys.exit(f"demo: unknown target {target!r}; use one of {', '.join(TARGETS)} (make demo TARGET=...)")
    with _target_env(target) as target_env:
        return _demo(target, target_env)


@contextlib.contextmanager
def _target_env(target: str):
    """The environment the loaders and dbt need for `target`, set up (and torn down) for the demo."""
    env = {"DBT_TARGET": target}
    if target == "spark":
        for name, default in (("LAKE_PATH", "lake"), ("SPARK_WAREHOUSE_DIR", "spark-warehouse")):
            if name not in os.environ:
                shutil.rmtree(REPO / default, ignore_errors=True)
            env[name] = str(Path(os.environ.get(name, REPO / default)).resolve())
        yield env
    elif target == "postgres" and not os.environ.get("PGHOST"):
        from sandbox.postgres import postgres_server

        step("no PGHOST set: starting a throwaway Postgres server for the demo (stopped at the end)")
        with postgres_server() as server:
            server.create_database("marketo")
            yield {**env, **server.env("marketo")}
    else:
        yield env


def _demo(target: str, target_env: dict[str, str]) -> int:
    from sandbox.crm import generate_crm
    from sandbox.dynamics import DynamicsEmulator
    from sandbox.marketo import MarketoEmulator
    from sandbox.people import generate_deleted, generate_leads
    from sandbox.salesforce import SalesforceEmulator
    from sandbox.web_events import generate_web_events, happened_by, write_event_files

    persons = int(os.environ.get("DEMO_PERSONS", "5000"))
    page_views = int(os.environ.get("DEMO_PAGE_VIEWS", str(persons * 20)))
    seed = int(os.environ.get("DEMO_SEED", "42"))
    db = Path(os.environ.get("DUCKDB_PATH", REPO / "warehouse.duckdb")).resolve()
    state_dir = Path(os.environ.get("LOADERS_PIPELINES_DIR", REPO / ".dlt" / "pipelines"))
    # a destination the demo starts afresh: the loaders' local state must start afresh with it
    fresh = {
        "duckdb": "DUCKDB_PATH" not in os.environ,
        "postgres": "PGHOST" not in os.environ,
        "spark": "LAKE_PATH" not in os.environ,
    }[target]
    if fresh:
        from orchestration.daily import default_state_dir

        if target == "duckdb":
            db.unlink(missing_ok=True)
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(default_state_dir(), ignore_errors=True)  # the daily job's state describes the old file

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=180)
    step(f"generating {persons:,} sandbox Marketo persons (seed {seed})")
    # one Marketo instance usually syncs with one CRM; the demo shows both: 60% of the persons come from a
    # Salesforce-synced population, 40% from a Dynamics-synced one
    sf_part = generate_leads(persons * 3 // 5, seed=seed, start=start, end=now - timedelta(hours=1))
    dyn_part = generate_leads(
        persons - len(sf_part), seed=seed + 1, start=start, end=now - timedelta(hours=1), with_dynamics=True
    )
    dyn_part["id"] += 10_000_000
    dyn_part["email"] = dyn_part["email"].str.replace("@", ".d@", n=1, regex=False)
    leads = pd.concat([sf_part, dyn_part], ignore_index=True)
    deleted = generate_deleted(leads, fraction=0.02, seed=seed)

    env = {
        **os.environ,
        "DUCKDB_PATH": str(db),
        "LOADERS_PIPELINES_DIR": str(state_dir),
        "RUNTIME__DLTHUB_TELEMETRY": "false",
        "DO_NOT_TRACK": "1",
        **target_env,
    }
    destination = TARGETS[target]
    # fast mode: a job's status changes on every poll instead of at most once a minute, as in Marketo
    with MarketoEmulator(leads, workdir=REPO / "sandbox" / "data" / "marketo", status_update_seconds=0) as marketo:
        step(f"Marketo emulator on {marketo.base_url}; loading with `python -m loaders marketo`")
        env.update(
            {
                **marketo.loader_env(),
                "SOURCES__MARKETO__START_DATE": start.date().isoformat(),
                "SOURCES__MARKETO__POLL_INTERVAL_SECONDS": "0.2",
            }
        )
        run([sys.executable, "-m", "loaders", "marketo", *destination], env)
        deleted_ids = sorted({d["leadId"] for d in deleted})
        marketo.delete_leads(deleted_ids)
        step(f"{len(deleted_ids)} persons deleted in Marketo since; the next run picks the deletes up (B12)")
        run([sys.executable, "-m", "loaders", "marketo", *destination], env)

    crm = generate_crm(leads, seed=seed)
    with SalesforceEmulator(crm["sf_lead"], crm["sf_contact"], crm["sf_account"]) as salesforce:
        step(f"Salesforce emulator on {salesforce.base_url}; loading with `python -m loaders salesforce`")
        env.update(
            {
                "SOURCES__SALESFORCE__BASE_URL": salesforce.base_url,
                "SOURCES__SALESFORCE__CLIENT_ID": salesforce.client_id,
                "SOURCES__SALESFORCE__CLIENT_SECRET": salesforce.client_secret,
            }
        )
        run([sys.executable, "-m", "loaders", "salesforce", *destination], env)
    with DynamicsEmulator(crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"]) as dynamics:
        step(f"Dynamics 365 emulator on {dynamics.base_url}; loading with `python -m loaders dynamics`")
        env.update(
            {
                "SOURCES__DYNAMICS__BASE_URL": dynamics.base_url,
                "SOURCES__DYNAMICS__TOKEN_URL": dynamics.token_url,
                "SOURCES__DYNAMICS__CLIENT_ID": dynamics.client_id,
                "SOURCES__DYNAMICS__CLIENT_SECRET": dynamics.client_secret,
            }
        )
        run([sys.executable, "-m", "loaders", "dynamics", *destination], env)

    step(
        f"generating {page_views:,} web page views + form fills for those persons; loading with `python -m loaders web`"
    )
    events_dir = REPO / "sandbox" / "data" / "web"
    shutil.rmtree(events_dir, ignore_errors=True)
    pv, fs = happened_by(*generate_web_events(leads, page_views, seed=seed, start=start, end=now), now)
    write_event_files(pv, fs, events_dir, fmt="jsonl", gzip=True)
    env["SOURCES__WEB__BUCKET_URL"] = str(events_dir)
    run([sys.executable, "-m", "loaders", "web", *destination], env)

    step(f"dbt build (target {target})")
    run([str(Path(sys.executable).with_name("dbt")), "build", "--profiles-dir", str(REPO), "--quiet"], env)

    summarize(target, db, env)
    return 0


def summarize(target: str, db: Path, env: dict[str, str]) -> None:
    """What landed and what dbt built, read with DuckDB from any target (sandbox/marts.py)."""
    from sandbox import marts

    with duckdb.connect() as con:
        if target == "postgres":
            import psycopg2

            pg = psycopg2.connect(
                host=env["PGHOST"], port=env.get("PGPORT", "5432"), user=env.get("PGUSER"),
                password=env.get("PGPASSWORD"), dbname=env["PGDATABASE"],
            )  # fmt: skip
            marts.attach_postgres(con, pg, os.environ.get("DBT_SCHEMA", "analytics"), "main")
            pg.close()
        elif target == "spark":
            marts.attach_spark(con, Path(env["SPARK_WAREHOUSE_DIR"]), os.environ.get("DBT_SCHEMA", "analytics"), "main")
        else:
            con.execute(f"attach '{db}' as warehouse (read_only)")
            con.execute("use warehouse")

        def one(sql: str):
            return con.execute(sql).fetchall()[0][0]

        step("what landed")
        print(f"    Marketo persons loaded:   {one('select count(*) from main.int_marketo_persons_resolved'):>8,}")
        print(f"    CRM persons loaded:       {one('select count(*) from main.int_crm_persons_unioned'):>8,}")
        deleted = one(
            "select count(*) from (select id from main.biz_leads where is_deleted "
            "union all select id from main.biz_contacts where is_deleted)"
        )
        print(f"    deleted (flagged):        {deleted:>8,}")
        print(
            f"    biz_leads / biz_contacts: {one('select count(*) from main.biz_leads'):>8,} / "
            f"{one('select count(*) from main.biz_contacts'):,}"
        )
        print("    persons by source_system (duplicates = Marketo persons the CRM sync also carries, B5):")
        print(f"      {'source_system':<14} {'persons':>8} {'duplicates':>11} {'deleted':>8}")
        for system, n, dups, dels in con.execute(
            "select source_system, count(*), count(*) filter (where is_duplicate), count(*) filter (where is_deleted) "
            "from (select source_system, is_duplicate, is_deleted from main.biz_leads "
            "union all select source_system, is_duplicate, is_deleted from main.biz_contacts) group by 1 order by 1"
        ).fetchall():
            print(f"      {system:<14} {n:>8,} {dups:>11,} {dels:>8,}")
        print("    persons by status (bizible_stage):")
        for stage, n in con.sql(
            "select coalesce(bizible_stage, '(none)'), count(*) from main.biz_leads group by 1 order by 2 desc"
        ).fetchall():
            print(f"      {stage:<22} {n:>8,}")
        step("touchpoints by channel (non-duplicate, non-deleted persons)")
        print(f"    {'channel':<16} {'touchpoints':>11} {'persons':>8} {'U-shape credit':>15}")
        for channel, n, people, credit in con.execute(
            "select channel, count(*), count(distinct person_id), sum(u_shape_percentage) / 100.0 "
            "from main.biz_touchpoints where not is_duplicate and not is_deleted group by 1 order by 2 desc"
        ).fetchall():
            print(f"    {channel:<16} {n:>11,} {people:>8,} {float(credit):>15,.1f}")
    query = "select source_system, bizible_stage, count(*) from biz_leads group by all order by 3 desc"
    if target == "spark":
        folder = Path(env["SPARK_WAREHOUSE_DIR"]) / f"{os.environ.get('DBT_SCHEMA', 'analytics')}.db"
        print(f"\nMarts: Parquet tables under {folder} (any Parquet reader opens them)")
        print(
            'Try:  .venv/bin/python -c "import duckdb; print(duckdb.sql(\\"select source_system, count(*) from '
            f"read_parquet('{folder}/biz_leads/*.parquet') group by 1\\\"))\""
        )
    elif target == "postgres":
        print(f"\nMarts: schema {os.environ.get('DBT_SCHEMA', 'analytics')} of database {env['PGDATABASE']}")
        if os.environ.get("PGHOST"):
            portable = query.replace("group by all", "group by 1, 2").replace("biz_leads", "analytics.biz_leads")
            print(f'Try:  psql -c "{portable}"')
        else:
            print("(the throwaway server stops now: set PG* to a server of yours to keep the marts)")
    else:
        print(f"\nWarehouse: {db}")
        print(
            "Try:  .venv/bin/python -c \"import duckdb; print(duckdb.connect('"
            f"{db.name if db.parent == REPO else db}').sql('{query}'))\""
        )
        # the dashboards read the snapshot dbt published beside the warehouse, never the warehouse itself
        prefix = "" if db == REPO / "warehouse.duckdb" else f"DUCKDB_PATH={db} "
        print(f"Dashboards: {prefix}make dashboard   then open http://localhost:8501")


if __name__ == "__main__":
    sys.exit(main())
