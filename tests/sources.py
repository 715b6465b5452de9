"""Every sandbox source at once, for the scheduled jobs' tests: the Marketo, Salesforce and Dynamics emulators on
127.0.0.1 and a folder of web event files, configured through the env vars a user sets; new data can be added
between runs (a day of web events, new Marketo persons)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from sandbox.crm import generate_crm
from sandbox.dynamics import DynamicsEmulator
from sandbox.marketo import MarketoEmulator
from sandbox.people import generate_deleted, generate_leads
from sandbox.salesforce import SalesforceEmulator
from sandbox.web_events import generate_web_events, happened_by, next_day_of_events, write_event_files

# the models a day of web events alone rebuilds: the web chain and the reports that count it
WEB_CHAIN = {
    "stg_web__dlt_loads",
    "stg_web__page_views",
    "stg_web__form_submits",
    "int_sessions_sessionized",
    "biz_sessions",
    "biz_page_views",
    "biz_form_submits",
    "biz_email_to_visitor_ids",
    "int_web_traffic_by_day",
    "int_touchpoints_by_email",
    "int_touchpoints_weighted",
    "biz_touchpoints",
    "rpt_web_traffic_by_day_landing_page_channel",
    "rpt_touchpoints_by_month_channel_segment",
    "rpt_new_persons_by_month_source_channel",
    # the dashboards' read model (views)
    "rpt_dashboard_sessions",
    "rpt_dashboard_form_emails",
    "rpt_dashboard_touchpoints",
}
# the models new Marketo persons alone rebuild: the person chain, the touchpoints and the reports
PERSON_CHAIN = {
    "stg_marketo__leads",
    "int_marketo_persons_deleted",
    "int_marketo_persons_resolved",
    "int_marketo_persons_matched_to_crm",
    "int_marketo_persons_matched_by_email",
    "int_leads_matched_to_accounts",
    "int_persons_unioned",
    "int_persons_segmented",
    "int_touchpoints_weighted",
    "biz_leads",
    "biz_contacts",
    "biz_account_to_emails",
    "biz_touchpoints",
    "dq_marketo_dangling_crm_ids",
    "rpt_persons_reconciliation",
    "rpt_new_persons_by_month_source_channel",
    "rpt_touchpoints_by_month_channel_segment",
    "rpt_web_traffic_by_day_landing_page_channel",
    "rpt_dashboard_persons",
    "rpt_dashboard_touchpoints",
}


class Sources:
    """Start with `with Sources(tmp, mp) as sources:`; `mp` (a pytest MonkeyPatch) carries the env vars."""

    def __init__(self, tmp: Path, mp: pytest.MonkeyPatch, persons: int = 120, crm: bool = True) -> None:
        self.tmp, self.mp, self.crm = tmp, mp, crm
        self.end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        self.start = self.end - timedelta(days=20)  # one bulk export window
        self.leads = generate_leads(persons, seed=11, start=self.start, end=self.end)
        # events up to three days ago: each new day (add_web_day) comes after the last event so far, and the web
        # loader quarantines events dated more than MAX_FUTURE_HOURS after the load
        self.page_views, self.form_submits = happened_by(
            *generate_web_events(self.leads, persons * 12, seed=11, start=self.start, end=self.end),
            self.end - timedelta(days=3),
        )
        self.events = tmp / "events"
        self.db = tmp / "warehouse.duckdb"
        self._stack = contextlib.ExitStack()
        self.days = 0

    def __enter__(self) -> Sources:
        env = {
            "DUCKDB_PATH": str(self.db),
            "LOADERS_PIPELINES_DIR": str(self.tmp / "pipelines"),
            "SOURCES__WEB__BUCKET_URL": str(self.events),
        }
        write_event_files(self.page_views, self.form_submits, self.events, fmt="jsonl", gzip=True)
        self.marketo = self._stack.enter_context(
            MarketoEmulator(
                self.leads,
                generate_deleted(self.leads, 0.02, seed=11),
                workdir=self.tmp / "emu",
                status_update_seconds=0,
            )
        )
        env.update(
            {
                **self.marketo.loader_env(),
                "SOURCES__MARKETO__START_DATE": self.start.isoformat(),
                "SOURCES__MARKETO__POLL_INTERVAL_SECONDS": "0.01",
            }
        )
        if self.crm:
            crm = generate_crm(self.leads, seed=11)
            sf = self._stack.enter_context(SalesforceEmulator(crm["sf_lead"], crm["sf_contact"], crm["sf_account"]))
            dyn = self._stack.enter_context(
                DynamicsEmulator(crm["dyn_leads"], crm["dyn_contacts"], crm["dyn_accounts"])
            )
            for key, value in {
                "SALESFORCE__BASE_URL": sf.base_url,
                "SALESFORCE__CLIENT_ID": sf.client_id,
                "SALESFORCE__CLIENT_SECRET": sf.client_secret,
                "DYNAMICS__BASE_URL": dyn.base_url,
                "DYNAMICS__TOKEN_URL": dyn.token_url,
                "DYNAMICS__CLIENT_ID": dyn.client_id,
                "DYNAMICS__CLIENT_SECRET": dyn.client_secret,
            }.items():
                env[f"SOURCES__{key}"] = value
        for key, value in env.items():
            self.mp.setenv(key, value)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def add_web_day(self) -> int:
        """A new day of web events (5% of the traffic again) in a new file; returns how many events."""
        self.days += 1
        views, forms = next_day_of_events(self.page_views, self.form_submits, fraction=0.05, seed=100 + self.days)
        write_event_files(views, forms, self.events / f"day-{self.days}", fmt="jsonl", files_per_day=False)
        self.page_views = pd.concat([self.page_views, views], ignore_index=True)
        self.form_submits = pd.concat([self.form_submits, forms], ignore_index=True)
        return len(views) + len(forms)

    def add_marketo_persons(self, n: int = 3) -> list[int]:
        """New Marketo persons, updated just now (the next incremental export window reads them)."""
        now = datetime.now(UTC).replace(microsecond=0)
        fresh = generate_leads(n, seed=12, start=now - timedelta(minutes=30), end=now)
        fresh["id"] += 9_000_000
        self.marketo.upsert_leads(fresh)
        return [int(i) for i in fresh["id"]]
