"""The dashboard in a real browser: its Streamlit server on a free port, and headless Chromium driven by
Selenium. Used by tests/test_dashboard_browser.py and the bench's dashboard step.

The browser is Debian's `chromium` with its `chromium-driver` (`.ci/run` installs them when missing); nothing
here downloads a browser or a driver. Env CHROMIUM_BIN and CHROMEDRIVER_BIN point elsewhere.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

from selenium import webdriver
from selenium.common.exceptions import JavascriptException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
# flags that work as root in a container, with no network calls of the browser's own
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
]
PAGES = {
    "Engagement": "",
    "Web Traffic": "Web_Traffic",
    "New persons": "New_Persons",
    "Reconciliation": "Reconciliation",
    "Journey": "Journey",
}


def browser_missing() -> str | None:
    """Why no browser test can run here, or None."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            return (
                f"{path} not found: install Debian's browser and driver "
                "(apt-get install -y --no-install-recommends chromium chromium-driver)"
            )
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DashboardServer:
    """`python -m dashboard` on 127.0.0.1 and a free port, for the life of a `with` block."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.proc: subprocess.Popen | None = None
        self.log_path = Path(tempfile.mkstemp(prefix="dashboard-", suffix=".log")[1])

    def __enter__(self) -> DashboardServer:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dashboard", "--address", "127.0.0.1", "--port", str(self.port)],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the dashboard server exited: {self.output()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"the dashboard server did not answer: {self.output()[-3000:]}")

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


# true when every chart on the page has drawn something: a Vega canvas with a painted pixel, or an SVG with marks
CHARTS_DRAWN_JS = """
const charts = document.querySelectorAll('[data-testid="stVegaLiteChart"]');
let drawn = 0;
for (const chart of charts) {
  const canvas = chart.querySelector('canvas');
  if (canvas && canvas.width > 0 && canvas.height > 0) {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < pixels.length; i += 4 * 7) { if (pixels[i] > 0) { drawn++; break; } }
    continue;
  }
  const svg = chart.querySelector('svg');
  const marks = svg ? svg.querySelectorAll('path, rect, circle, text').length : 0;
  if (svg && svg.getBoundingClientRect().width > 0 && marks > 0) drawn++;
}
return [charts.length, drawn];
"""

READY_JS = """
const mark = document.querySelector('[data-testid="dashboard-ready"]');
const stale = document.querySelectorAll('[data-stale="true"]').length;
const running = document.querySelector('[data-testid="stStatusWidget"]');
const busy = running ? running.innerText.toLowerCase().includes('running') : false;
return mark ? [mark.dataset.build, mark.dataset.state, stale, busy] : null;
"""


class Browser:
    """Headless Chromium on the dashboard."""

    def __init__(self, base_url: str, width: int = 1440, height: int = 1000) -> None:
        self.base_url = base_url
        self.profile = tempfile.mkdtemp(prefix="chromium-profile-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS + [f"--user-data-dir={self.profile}", f"--window-size={width},{height}"]:
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(60)
        self.state: tuple[str, str] | None = None

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- waiting

    def open(self, page: str, query: str = "", timeout: float = 60) -> float:
        """Loads a page (a PAGES key) and waits until it is drawn; seconds from navigation to drawn."""
        started = time.monotonic()
        self.state = None
        self.driver.get(f"{self.base_url}/{PAGES[page]}" + (f"?{query}" if query else ""))
        self.wait_drawn(timeout=timeout)
        return time.monotonic() - started

    def navigate(self, page: str, timeout: float = 60) -> float:
        """Goes to another page with the sidebar's link (the app stays loaded, filters follow) and waits
        until it is drawn; seconds from the click to drawn."""
        path = PAGES[page]
        links = self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')
        link = next(a for a in links if urlparse(a.get_attribute("href")).path.strip("/") == path)
        started = time.monotonic()
        link.click()
        self.wait_drawn(timeout=timeout)
        return time.monotonic() - started

    def wait_drawn(self, timeout: float = 60) -> tuple[str, str]:
        """Waits until the page's run has finished with a state other than the last one seen, nothing stale is
        left on the page, and every chart has drawn; returns (build id, state)."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                mark = self.driver.execute_script(READY_JS)
                charts = self.driver.execute_script(CHARTS_DRAWN_JS)
            except (JavascriptException, StaleElementReferenceException):
                mark = charts = None
            last = (mark, charts)
            if mark and (mark[0], mark[1]) != self.state and mark[2] == 0 and not mark[3] and charts[0] == charts[1]:
                self.state = (mark[0], mark[1])
                return self.state
            time.sleep(0.02)
        raise TimeoutError(f"page not drawn in {timeout}s (last seen: {last}); errors: {self.errors()}")

    def changed(self, action, timeout: float = 60) -> float:
        """Runs `action` (a filter change), then waits for the redraw; seconds from the action to drawn."""
        started = time.monotonic()
        action()
        self.wait_drawn(timeout=timeout)
        return time.monotonic() - started

    # ---------------------------------------------------------------- reading

    def errors(self) -> list[str]:
        """Tracebacks, errors and warnings on the page (the dashboard's 'no data' messages are warnings)."""
        found = self.driver.find_elements(
            By.CSS_SELECTOR,
            '[data-testid="stException"], [data-testid="stAlertContentError"], [data-testid="stAlertContentWarning"]',
        )
        return [e.text for e in found]

    def metrics(self) -> dict[str, str]:
        out = {}
        for tile in self.driver.find_elements(By.CSS_SELECTOR, '[data-testid="stMetric"]'):
            label = tile.find_element(By.CSS_SELECTOR, '[data-testid="stMetricLabel"]').text.strip()
            out[label] = tile.find_element(By.CSS_SELECTOR, '[data-testid="stMetricValue"]').text.strip()
        return out

    def charts(self) -> tuple[int, int]:
        """(charts on the page, charts drawn)."""
        return tuple(self.driver.execute_script(CHARTS_DRAWN_JS))

    def text(self) -> str:
        return self.driver.find_element(By.CSS_SELECTOR, '[data-testid="stMain"]').text

    def build_id(self) -> str:
        return self.driver.find_element(By.CSS_SELECTOR, '[data-testid="dashboard-ready"]').get_attribute("data-build")

    # ---------------------------------------------------------------- acting

    def _widget(self, testid: str, label: str):
        for widget in self.driver.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]'):
            names = widget.find_elements(By.CSS_SELECTOR, '[data-testid="stWidgetLabel"]')
            if names and names[0].get_attribute("textContent").strip() == label:
                return widget
        raise LookupError(f"no {testid} labelled {label!r}")

    def multiselect(self, label: str, value: str) -> None:
        """Adds `value` to the multiselect labelled `label`."""
        self.staged_multiselect(label, value)()

    def selectbox(self, label: str, option: str) -> None:
        self._staged("stSelectbox", label, option)()

    def type_text(self, label: str, value: str) -> None:
        self.staged_text(label, value)()

    def staged_multiselect(self, label: str, value: str):
        """Types `value` into the multiselect; returns what picks it (Enter), to be timed on its own."""
        return self._staged("stMultiSelect", label, value, Keys.ESCAPE)

    def staged_text(self, label: str, value: str):
        """Types `value` into the text input; returns what submits it (Enter), to be timed on its own."""
        box = self._widget("stTextInput", label).find_element(By.TAG_NAME, "input")
        box.clear()
        box.send_keys(value)
        return lambda: box.send_keys(Keys.ENTER)

    def _staged(self, testid: str, label: str, text: str, *then: str):
        box = self._widget(testid, label).find_element(By.TAG_NAME, "input")
        box.click()
        box.send_keys(text)
        return lambda: box.send_keys(Keys.ENTER, *then)

    def radio(self, label: str, option: str) -> None:
        group = self._widget("stRadio", label)
        for choice in group.find_elements(By.CSS_SELECTOR, "label"):
            if choice.text.strip() == option:
                choice.click()
                return
        raise LookupError(f"no option {option!r} in {label!r}")

    def screenshot(self, path: Path) -> None:
        """The whole page, however long, as a PNG."""
        height = self.driver.execute_script(
            "const main = document.querySelector('[data-testid=\"stMain\"]');"
            "return Math.max(document.body.scrollHeight, main ? main.scrollHeight : 0);"
        )
        size = self.driver.get_window_size()
        try:
            self.driver.set_window_size(size["width"], max(size["height"], min(int(height) + 80, 6000)))
            time.sleep(0.5)  # charts resize to the new viewport
            self.wait_charts()
            path.parent.mkdir(parents=True, exist_ok=True)
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.set_window_size(size["width"], size["height"])

    def wait_charts(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                total, drawn = self.charts()
            except WebDriverException:
                total, drawn = 1, 0
            if total == drawn:
                return
            time.sleep(0.05)
        raise TimeoutError("charts not drawn")
