"""The baseline of the Marketo API-path row: download the export files a loader run had Marketo make, then
load them with one DuckDB read_csv, one row per person (the latest updatedAt, as the loader's merge keeps).

  python -m bench.marketo_files <base_url> <client_id> <client_secret> <warehouse.duckdb> <folder> <export id>...

No job handling, no checksum, no typing beyond DuckDB's sniffer, no state: the least a loader must do to land
the same persons. Prints the seconds taken (downloads + load), then the rows landed.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import requests


def download(base_url: str, token: str, export_id: str, folder: Path) -> Path:
    path = folder / f"{export_id}.csv"
    with requests.get(
        f"{base_url}/bulk/v1/leads/export/{export_id}/file.json",
        headers={"Authorization": f"Bearer {token}"},
        stream=True,
        timeout=600,
    ) as resp:
        resp.raise_for_status()
        with open(path, "wb") as out:
            for chunk in resp.iter_content(1 << 20):
                out.write(chunk)
    return path


def main(argv: list[str]) -> int:
    base_url, client_id, client_secret, db, folder, *export_ids = argv
    folder_path = Path(folder)
    folder_path.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    token = requests.post(
        f"{base_url}/identity/oauth/token",
        params={"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret},
        timeout=60,
    ).json()["access_token"]
    with ThreadPoolExecutor(4) as pool:  # Marketo allows 10 concurrent calls
        files = list(pool.map(lambda e: download(base_url, token, e, folder_path), export_ids))
    files = [str(f) for f in files if f.stat().st_size]  # an export without records is an empty file
    with duckdb.connect(db) as con:
        con.execute(
            "create or replace table leads as select * from read_csv(?, header = true, nullstr = 'null', "
            "quote = '\"', escape = '\"', union_by_name = true) "
            "qualify row_number() over (partition by id order by updatedAt desc) = 1",
            [files],
        )
        seconds = time.monotonic() - started
        (rows,) = con.execute("select count(*) from leads").fetchone()
    print(f"{seconds:.3f}\n{rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
