"""The dashboard in a real browser: `python -m dashboard` on a free port over a copy of the demo's warehouse,
headless Chromium (Debian's, driven by Selenium). Every page loads and draws its charts; filters redraw them
with the numbers the marts say and live in the URL; a `dbt build` and a loader run complete while the app is
open and clicked, and the app then shows the new build. One server and one browser for the module.

Screenshots go to DASHBOARD_SCREENSHOT_DIR (`make screenshots` sets docs/img), else to a temp folder."""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bench.browser import PAGES, Browser, DashboardServer, browser_missing
from tests.support import land_web_day, query, run_dbt

pytestmark = pytest.mark.skipif(bool(browser_missing()), reason=browser_missing() or "")


@pytest.fixture(scope="module")
def warehouse(demo, tmp_path_factory):
    """A copy of the demo's warehouse, snapshot and dlt state: this module builds on it."""
    folder = tmp_path_factory.mktemp("browser")
    db = folder / "demo.duckdb"
    shutil.copy(demo.db, db)
    shutil.copytree(str(demo.db) + ".dashboard", str(db) + ".dashboard")
    shutil.copytree(demo.pipelines, folder / "pipelines")
    return db


@pytest.fixture(scope="module")
def browser(warehouse):
    with DashboardServer({"DUCKDB_PATH": str(warehouse)}) as server, Browser(server.url) as b:
        b.server = server
        yield b


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    configured = os.environ.get("DASHBOARD_SCREENSHOT_DIR")
    return Path(configured) if configured else tmp_path_factory.mktemp("screenshots")


def tile(b: Browser, label: str) -> int:
    return int(b.metrics()[label].replace(",", ""))


def last_90_days() -> tuple:
    today = datetime.now(UTC).date()
    return today - timedelta(days=89), today


def test_every_page_loads_and_draws_its_charts(browser, warehouse, shots):
    expected_charts = {"Engagement": 2, "Web Traffic": 2, "New persons": 2, "Reconciliation": 1, "Journey": 0}
    for page, charts in expected_charts.items():
        browser.open(page)
        assert browser.charts() == (charts, charts), page
        assert not browser.errors(), (page, browser.errors())
        browser.screenshot(shots / f"{page.lower().replace(' ', '_')}.png")
    # what the default view (last 90 days) shows is what the marts hold
    browser.open("Engagement")
    (touchpoints,) = query(
        warehouse,
        "select count(*) from biz_touchpoints where not is_duplicate and not is_deleted "
        "and cast(touchpoint_date as date) between ? and ?",
        list(last_90_days()),
    )[0]
    assert tile(browser, "Touchpoints") == touchpoints > 0
    browser.open("Reconciliation")
    assert "The CRM holds" in browser.text() and "Marketo-only" in browser.text()


def test_filters_redraw_and_live_in_the_url(browser, warehouse, shots):
    b = browser
    b.open("Engagement", "period=all_time")
    everything = tile(b, "Touchpoints")
    b.changed(lambda: b.multiselect("Channel", "Organic Search"))
    (organic,) = query(
        warehouse,
        "select count(*) from biz_touchpoints where not is_duplicate and not is_deleted and channel = 'Organic Search'",
    )[0]
    assert tile(b, "Touchpoints") == organic < everything
    assert b.charts()[0] == b.charts()[1] == 2
    b.changed(lambda: b.radio("Drill to", "Subchannel"))
    assert "Touchpoints and U-Shaped credit by subchannel" in b.text()
    b.changed(lambda: b.multiselect("Source", "CRM"))
    (crm,) = query(
        warehouse,
        "select count(*) from biz_touchpoints where not is_duplicate and not is_deleted "
        "and channel = 'Organic Search' and category1 = 'CRM'",
    )[0]
    assert tile(b, "Touchpoints") == crm < organic
    url = b.driver.current_url
    params = parse_qs(urlparse(url).query)
    assert params["channel"] == ["Organic Search"] and params["category1"] == ["CRM"]
    assert params["drill"] == ["Subchannel"] and params["period"] == ["all_time"]

    # the URL is the view: opened afresh, it draws the same numbers
    b.driver.get(url)
    b.state = None
    b.wait_drawn()
    assert tile(b, "Touchpoints") == crm

    # the filters follow the user to another page
    b.driver.find_element("css selector", '[data-testid="stSidebarNav"] a[href$="Web_Traffic"]').click()
    b.state = None
    b.wait_drawn()
    (visits,) = query(warehouse, "select count(*) from biz_sessions where channel = 'Organic Search'")[0]
    assert tile(b, "Visits") == visits

    # a type-in filter: the Journey of an email with several touchpoints
    (email,) = query(
        warehouse,
        "select email from biz_touchpoints group by email having count(distinct session_id) >= 3 "
        "and bool_or(is_lead_creation_touch) order by count(*) desc, email limit 1",
    )[0]
    b.open("Journey", "period=all_time")
    b.changed(lambda: b.type_text("Email", email))
    assert b.charts() == (1, 1)
    assert "FT" in b.text() and email in b.driver.current_url.replace("%40", "@")
    b.screenshot(shots / "journey.png")


def test_a_build_and_a_loader_run_complete_while_the_app_is_clicked(browser, warehouse, tmp_path):
    b = browser
    b.open("Web Traffic")
    first_build = b.build_id()
    outcome: dict = {}

    def pipeline() -> None:
        try:
            when = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
            outcome["landed"] = land_web_day(warehouse, warehouse.parent / "pipelines", tmp_path / "events", when)
            outcome["build"] = run_dbt(["build", "--exclude-resource-type", "unit_test"], warehouse, check=False)
        except Exception as exc:  # reported by the assertions below
            outcome["error"] = exc

    worker = threading.Thread(target=pipeline)
    worker.start()
    clicks, problems = 0, []
    while worker.is_alive():
        b.open("Web Traffic")
        b.changed(lambda: b.selectbox("Date range", "Last 30 days"))
        b.changed(lambda: b.multiselect("Channel", "Direct"))
        problems += b.errors()
        clicks += 2
    worker.join()
    assert "error" not in outcome, outcome.get("error")
    build = outcome["build"]
    assert build.returncode == 0, build.stdout[-3000:]
    assert "Dashboard snapshot published" in build.stdout
    assert clicks >= 2 and not problems, problems

    # the page left open picks the new build up by itself (it looks every 10 s), with the new numbers
    deadline = time.monotonic() + 60
    while b.build_id() == first_build and time.monotonic() < deadline:
        time.sleep(0.5)
    assert b.build_id() != first_build
    b.state = None
    b.wait_drawn()
    today = datetime.now(UTC).date()
    (visits,) = query(
        warehouse,
        "select count(*) from biz_sessions where channel = 'Direct' and cast(event_date as date) between ? and ?",
        [today - timedelta(days=29), today],
    )[0]
    assert tile(b, "Visits") == visits
    assert b.server.proc.poll() is None


def test_the_pages_are_listed_in_the_sidebar(browser):
    browser.open("Engagement")
    links = browser.driver.find_elements("css selector", '[data-testid="stSidebarNav"] a')
    assert [link.text.strip() for link in links] == [
        "Engagement",
        "Web Traffic",
        "New Persons",
        "Reconciliation",
        "Journey",
    ]
    assert set(PAGES) == {"Engagement", "Web Traffic", "New persons", "Reconciliation", "Journey"}
