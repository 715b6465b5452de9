"""Load Salesforce Lead, Contact and Account into raw_salesforce (incremental on SystemModstamp, merge on Id).

Config (env vars or .dlt/config.toml + .dlt/secrets.toml, section [sources.salesforce]):
  SOURCES__SALESFORCE__BASE_URL       login or My Domain URL, e.g. https://acme.my.salesforce.com
  SOURCES__SALESFORCE__CLIENT_ID      connected app consumer key (client-credentials flow)
  SOURCES__SALESFORCE__CLIENT_SECRET  connected app consumer secret
  SOURCES__SALESFORCE__API_VERSION    default v61.0
  SOURCES__SALESFORCE__OBJECTS        default Lead,Contact,Account
  SOURCES__SALESFORCE__CUSTOM_FIELDS  true to load custom fields too (default false)
  SOURCES__SALESFORCE__START_DATE     first run only: oldest SystemModstamp to read (default: everything)
  SOURCES__SALESFORCE__API_USAGE_SLOWDOWN  0.8: past this share of the org's daily API requests (the
                                      Sforce-Limit-Info header), wait before each call, longer as usage nears
                                      the stop (up to API_USAGE_MAX_WAIT seconds, default 30)
  SOURCES__SALESFORCE__API_USAGE_STOP  0.95: at this share stop cleanly, leaving the rest of the allowance to
                                      the org's other integrations (the Marketo sync among them)

Deleted records (recycle bin) arrive through queryAll with is_deleted = true and are kept. Ids land in their
18-character form. When the daily API request limit runs out, or reaches API_USAGE_STOP, the run keeps what
it read and exits 3; the next run resumes from there.
"""

from __future__ import annotations

import argparse

from loaders.common.crm import run_crm_load
from loaders.salesforce import salesforce_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--objects", default=None, help="comma-separated objects, overrides SOURCES__SALESFORCE__OBJECTS"
    )
    parser.add_argument(
        "--start-date",
        default=None,
        help="first run only: oldest SystemModstamp to read, overrides __START_DATE",
    )


def run(args: argparse.Namespace) -> int:
    overrides = {"objects": args.objects, "start_date": args.start_date}
    return run_crm_load(args, "salesforce", "Salesforce", salesforce_source, overrides)
