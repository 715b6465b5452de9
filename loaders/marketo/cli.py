"""Load Marketo persons (Bulk Lead Extract) and deleted persons into raw_marketo.

Settings come from env vars SOURCES__MARKETO__* or [sources.marketo] in .dlt/config.toml and
.dlt/secrets.toml; the flags below override them for one run. Every run is incremental: it exports the
windows since the last run, reuses export jobs a killed run left behind, re-reads company fields on a
cadence (B9), and reads the delete feed from where the last run got to. Deletes older than the feed keeps
(about 14 days) are found by comparing a complete re-export with the landed persons (raw_marketo.complete_exports).
Exit code 3 means a clean stop (quota, queue): run again later and it resumes.

Settings (the module docstring, `loaders/marketo/__init__.py`, and the README list them all):
  SOURCES__MARKETO__BASE_URL, __CLIENT_ID, __CLIENT_SECRET   the instance and its API user (required)
  SOURCES__MARKETO__START_DATE        first import reaches back to here (default: two years back)
  SOURCES__MARKETO__WINDOW_DAYS       days per export job (<= 31)
  SOURCES__MARKETO__FILTER_FIELD      updatedAt (default) or createdAt
  SOURCES__MARKETO__COMPANY_REFRESH_DAYS  7: the company refresh, which is also the complete re-export deletes
                                      are checked against (-1 = never)
  SOURCES__MARKETO__POLL_INTERVAL_SECONDS  60: Marketo changes a job's status at most once a minute
  SOURCES__MARKETO__DELETES_LOOKBACK_DAYS  30: the first run reads delete activities from this many days back
"""

from __future__ import annotations

import argparse

from loaders.common import Progress, make_pipeline


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base-url", help="Marketo REST endpoint (overrides SOURCES__MARKETO__BASE_URL)")
    parser.add_argument("--start-date", help="first import reaches back to this date, e.g. 2018-01-01")
    parser.add_argument("--window-days", type=int, help="days per bulk export job (1..31)")
    parser.add_argument("--filter-field", choices=["updatedAt", "createdAt"], help="bulk export filter")
    parser.add_argument(
        "--poll-interval",
        type=float,
        dest="poll_interval_seconds",
        help="seconds between export job status checks (default 60: Marketo updates a job's status once a minute)",
    )
    parser.add_argument(
        "--company-refresh-days", type=float, help="re-read company fields of everyone this often (B9); 0 = this run"
    )


def run(args: argparse.Namespace) -> int:
    from loaders.marketo import run_load
    from loaders.marketo.settings import load_settings

    settings = load_settings(
        base_url=args.base_url,
        start_date=args.start_date,
        window_days=args.window_days,
        filter_field=args.filter_field,
        poll_interval_seconds=args.poll_interval_seconds,
        company_refresh_days=args.company_refresh_days,
    )
    pipeline = make_pipeline("marketo", "raw_marketo", args.destination, args.pipelines_dir)
    progress = Progress("marketo")
    totals = run_load(pipeline, settings, progress)
    print(
        f"marketo: {totals.rows:,} person rows in {totals.windows_done} window(s) "
        f"({', '.join(f'{t}: {n:,}' for t, n in totals.by_table.items()) or 'nothing new'}), "
        f"{totals.rejected} quarantined to leads_rejected, {totals.deleted} delete activities, "
        f"{totals.bytes / 1e6:.1f} MB downloaded -> {pipeline.dataset_name} "
        f"in {getattr(pipeline.destination, 'destination_name', None) or pipeline.destination}"
    )
    print(
        f"  rows in = loaded + quarantined: {totals.rows + totals.rejected:,} = {totals.rows:,} + {totals.rejected:,}"
    )
    return 0
