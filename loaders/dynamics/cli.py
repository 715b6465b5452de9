"""Load Dynamics 365 leads, contacts and accounts into raw_dynamics (incremental on modifiedon, merge on id).

Config (env vars or .dlt/config.toml + .dlt/secrets.toml, section [sources.dynamics]):
  SOURCES__DYNAMICS__BASE_URL         org URL, e.g. https://acme.crm4.dynamics.com
  SOURCES__DYNAMICS__TOKEN_URL        https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token
  SOURCES__DYNAMICS__CLIENT_ID        app registration's client id (an application user in the environment)
  SOURCES__DYNAMICS__CLIENT_SECRET    its client secret
  SOURCES__DYNAMICS__SCOPE            default <BASE_URL>/.default
  SOURCES__DYNAMICS__PAGE_SIZE        rows per page, default 5000
  SOURCES__DYNAMICS__ENTITIES         default leads,contacts,accounts
  SOURCES__DYNAMICS__START_DATE       first run only: oldest modifiedon to read (default: everything)
  SOURCES__DYNAMICS__DETECT_DELETES   default true: flag rows whose id Dynamics no longer lists
  SOURCES__DYNAMICS__MAX_RETRY_AFTER  longest 429 Retry-After to wait, seconds (default 300)

Deleted records are kept with is_deleted = true. When Dataverse throttles for longer than MAX_RETRY_AFTER
the run keeps what it read and exits 3; the next run resumes from there.
"""

from __future__ import annotations

import argparse

from loaders.common.crm import run_crm_load
from loaders.dynamics import dynamics_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--entities", default=None, help="comma-separated entity sets, overrides SOURCES__DYNAMICS__ENTITIES"
    )
    parser.add_argument(
        "--start-date", default=None, help="first run only: oldest modifiedon to read, overrides __START_DATE"
    )


def run(args: argparse.Namespace) -> int:
    overrides = {"entities": args.entities, "start_date": args.start_date}
    return run_crm_load(args, "dynamics", "Dynamics", dynamics_source, overrides)
