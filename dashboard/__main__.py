"""`python -m dashboard` (`make dashboard`): serve the dashboards with Streamlit.

The pages read the snapshot that every successful `dbt build` publishes beside the warehouse, never the
warehouse file itself, so an open dashboard never makes a build fail; a new build shows up without a restart.

Env: DASHBOARD_ADDRESS (default 127.0.0.1: only this machine; 0.0.0.0 serves the network), DASHBOARD_PORT
(default 8501), DUCKDB_PATH (default warehouse.duckdb, the demo's), DASHBOARD_SNAPSHOT_DIR (default
<DUCKDB_PATH>.dashboard). The flags below override the env vars.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN = Path(__file__).with_name("Engagement.py")


def streamlit_command(address: str, port: int) -> list[str]:
    """`streamlit run` on the dashboard, headless, telemetry off."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(MAIN),
        "--server.address",
        address,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "minimal",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dashboard", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--address", default=os.environ.get("DASHBOARD_ADDRESS", "127.0.0.1"), help="bind address")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DASHBOARD_PORT", "8501")), help="port")
    args = parser.parse_args(argv)
    # the pages import `dashboard`; Streamlit puts only the script's folder on sys.path
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    host = "localhost" if args.address in ("127.0.0.1", "localhost") else args.address
    print(
        f"Dashboard on http://{host}:{args.port} (reading {os.environ.get('DUCKDB_PATH', 'warehouse.duckdb')}'s "
        "snapshot; Ctrl-C stops it)",
        flush=True,
    )
    os.execv(sys.executable, streamlit_command(args.address, args.port))


if __name__ == "__main__":
    sys.exit(main())
