"""dbt-duckdb plugin (profiles.yml `plugins:`): dbt takes the warehouse lock when it opens the DuckDB file.

So a bare `dbt build` (or test, run, docs generate) never interleaves with a loader or another build: it
exits at once with exit code 4 and a message naming the run that holds the warehouse, or waits up to
WAREHOUSE_LOCK_WAIT_SECONDS. Under a parent that holds the lock (the daily job), dbt goes ahead.

dbt run inside another Python program (dbtRunner) only checks: it raises WarehouseBusy when another run
holds the warehouse, and otherwise goes ahead without taking the lock, which it could not release before
that program exits; the program holds the lock around its dbt calls (warehouse.lock.WarehouseLock).

When MARKETO_PEOPLE_FAULT_AT is set (the fault matrix only), it also registers the SQL function
`marketo_people_fault(name)`, which kills dbt at that named point (see warehouse/faults.py).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

from warehouse.faults import armed, fault_point
from warehouse.lock import WarehouseBusy, WarehouseLock

_held: dict[str, WarehouseLock] = {}


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        path = str(self.creds.path) if self.creds is not None else ""
        if not path or path == ":memory:" or path.startswith("md:") or path in _held:
            return
        lock = WarehouseLock(path, command="dbt " + " ".join(sys.argv[1:]))
        if not _is_dbt_command():
            lock.acquire().release()  # raises WarehouseBusy for its caller when another run holds it
            return
        try:
            _held[path] = lock.acquire()  # kept for the life of the process: released when dbt exits
        except WarehouseBusy as exc:
            print(f"\ndbt: {exc}", file=sys.stderr, flush=True)
            # dbt would turn an exception into its generic exit code 2; a busy warehouse is not an error
            os._exit(exc.exit_code)

    def configure_connection(self, conn: Any) -> None:
        if armed():
            conn.create_function("marketo_people_fault", _fault, ["VARCHAR"], "VARCHAR", side_effects=True)


def _is_dbt_command() -> bool:
    return bool(sys.argv) and os.path.basename(sys.argv[0]) == "dbt"


def _fault(name: str) -> str:
    fault_point(name)
    return name
