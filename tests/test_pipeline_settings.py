"""The loaders' DuckDB settings: our defaults, unless the user's dlt config says otherwise."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import REPO

# what a loader's DuckDB connection runs with, and how dlt writes its files
PROBE = """
import json
from loaders.common.pipeline import make_pipeline
import dlt
pipeline = make_pipeline("probe", "raw_probe")
with pipeline.sql_client() as client:
    rows = client.execute_sql(
        "select current_setting('memory_limit'), current_setting('preserve_insertion_order')"
    )
print(json.dumps([*rows[0], dlt.config.get("data_writer.compression")]))
"""


def probe(tmp_path, config_toml: str = "") -> list:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text(config_toml)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DESTINATION__", "DATA_WRITER__", "DUCKDB_"))}
    env.update(PYTHONPATH=str(REPO), DUCKDB_PATH=str(tmp_path / "w.duckdb"), LOADERS_PIPELINES_DIR=str(tmp_path / "p"))
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_defaults_cap_memory_drop_row_order_and_leave_files_uncompressed(tmp_path):
    memory, keep_order, compression = probe(tmp_path)
    assert memory == "1.8 GiB"  # DUCKDB_MEMORY_LIMIT's default, 2GB, as DuckDB prints it
    assert keep_order is False
    assert compression == "none"


def test_settings_in_the_users_config_toml_win(tmp_path):
    memory, keep_order, compression = probe(
        tmp_path,
        '[destination.duckdb.credentials]\nglobal_config = {memory_limit = "512MB"}\n\n'
        '[data_writer]\ncompression = "zstd"\n',
    )
    assert memory == "488.2 MiB"  # 512MB
    assert keep_order is True  # the user's global_config replaces ours whole
    assert compression == "zstd"
