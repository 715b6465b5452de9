"""Salesforce REST API client: OAuth client credentials, the error-code table, retries, the call budget."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import requests

from loaders.common import LoaderError, RateBudget, backoff_delays
from loaders.common.retry import RETRYABLE_STATUS, post_with_retry

log = logging.getLogger(__name__)

# Salesforce answers these error codes with 5xx or 4xx; all of them are worth another try
RETRYABLE_CODES = {"UNKNOWN_EXCEPTION", "SERVER_UNAVAILABLE", "QUERY_TIMEOUT", "UNABLE_TO_LOCK_ROW"}


class RequestLimitExceeded(Exception):
    """The org's rolling 24-hour API request limit is used up (403 REQUEST_LIMIT_EXCEEDED)."""

    def explain(self) -> str:
        return f"Salesforce's daily API request limit is used up ({self})"


class AllowanceReserved(RequestLimitExceeded):
    """The org's API requests reached the share the loader leaves to other integrations (api_usage_stop)."""

    def __init__(self, used: int, allowed: int, stop_at: float) -> None:
        super().__init__(f"{used:,} of {allowed:,} requests of the last 24 hours used")
        self.stop_at = stop_at

    def explain(self) -> str:
        return (
            f"Salesforce's daily API requests are {self.stop_at:.0%} used ({self}; SOURCES__SALESFORCE__"
            "API_USAGE_STOP); the loader stops here to leave the rest to the org's other integrations (the "
            "Marketo sync among them)"
        )


@dataclass
class ApiUsagePolicy:
    """How the loader spends the org's daily API allowance, read from each response's Sforce-Limit-Info.

    From `slowdown` (a share of the allowance) on, it waits before each call, longer as usage nears `stop`
    (up to `max_wait` seconds), so the rolling 24-hour window frees requests and other integrations keep
    theirs; at `stop` it stops cleanly (exit 3) before Salesforce answers REQUEST_LIMIT_EXCEEDED.
    """

    slowdown: float = 0.8
    stop: float = 0.95
    max_wait: float = 30.0

    def wait_before_call(self, used: int, allowed: int) -> float:
        """Seconds to wait before the next call; raises AllowanceReserved at `stop`."""
        if allowed <= 0:
            return 0.0
        share = used / allowed
        if share >= self.stop:
            raise AllowanceReserved(used, allowed, self.stop)
        if share < self.slowdown:
            return 0.0
        return self.max_wait * (share - self.slowdown) / max(self.stop - self.slowdown, 1e-9)


class SalesforceClient:
    """One org. `describe()` and `query_all()` are the only calls the loader needs.

    A 401 INVALID_SESSION_ID gets one fresh token and a retry (client-credentials tokens expire with the
    session timeout); 5xx, cut connections and timeouts back off and retry; REQUEST_LIMIT_EXCEEDED raises
    RequestLimitExceeded so the caller can keep what it loaded and stop cleanly.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        api_version: str = "v61.0",
        budget: RateBudget | None = None,
        attempts: int = 6,
        backoff_base: float = 1.0,
        timeout: float = 120.0,
        session: requests.Session | None = None,
        usage_policy: ApiUsagePolicy | None = None,
    ) -> None:
        self.login_url = base_url.rstrip("/")
        self.instance_url = self.login_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.api_version = api_version if api_version.startswith("v") else f"v{api_version}"
        # Salesforce caps concurrent long requests at 25 per org; a loader never needs more than a few
        self.budget = budget or RateBudget(max_calls=100, per_seconds=1.0, max_concurrent=4)
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.timeout = timeout
        self.session = session or requests.Session()
        self._token: str | None = None
        self.token_refreshes = 0
        self.usage_policy = usage_policy or ApiUsagePolicy()
        # (requests used, allowed) of the org's rolling 24 hours, from the last Sforce-Limit-Info header
        self.api_usage: tuple[int, int] | None = None
        self.waited = 0.0

    # ---------------------------------------------------------------------------------------------- auth
    def authenticate(self) -> None:
        url = f"{self.login_url}/services/oauth2/token"
        data = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }
        response = post_with_retry(
            self.session,
            url,
            data,
            what="Salesforce login",
            attempts=self.attempts,
            backoff_base=self.backoff_base,
            timeout=self.timeout,
            budget=self.budget,
        )
        if response.status_code != 200:
            try:
                body = response.json()
                detail = f"{body.get('error')}: {body.get('error_description')}"
            except ValueError:
                detail = response.text[:200]
            raise LoaderError(
                f"Salesforce refused the client credentials ({response.status_code} {detail}). Check "
                "SOURCES__SALESFORCE__CLIENT_ID / __CLIENT_SECRET and that the connected app allows the "
                "client-credentials flow with a run-as user."
            )
        body = response.json()
        self._token = body["access_token"]
        # the token is valid on the org's own instance, which may differ from the login host
        self.instance_url = body.get("instance_url", self.login_url).rstrip("/")
        log.debug("authenticated against %s", self.instance_url)

    # --------------------------------------------------------------------------------------------- calls
    def describe(self, sobject: str) -> list[dict]:
        return self._get(f"/services/data/{self.api_version}/sobjects/{sobject}/describe")["fields"]

    def query_all(self, soql: str) -> Iterator[list[dict]]:
        """Pages of records (attributes removed) for a SOQL query over queryAll, deleted rows included. A page
        holds up to 2,000 records, often fewer: only `done` and `nextRecordsUrl` say whether more follow."""
        body = self._get(f"/services/data/{self.api_version}/queryAll", params={"q": soql})
        while True:
            yield [{k: v for k, v in r.items() if k != "attributes"} for r in body["records"]]
            next_url = body.get("nextRecordsUrl")
            if body.get("done", True) or not next_url:
                return
            body = self._get(next_url)

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        if self._token is None:
            self.authenticate()
        refreshed = False
        delays = backoff_delays(self.attempts, self.backoff_base)
        while True:
            url = urljoin(self.instance_url + "/", path.lstrip("/"))
            self._pace()
            try:
                with self.budget.call():
                    response = self.session.get(
                        url,
                        params=params,
                        timeout=self.timeout,
                        headers={"Authorization": f"Bearer {self._token}"},
                    )
                log.debug("GET %s -> %s", path, response.status_code)
                self._read_usage(response)
                if response.status_code == 200:
                    return response.json()
                code, message = _error(response)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                ValueError,
            ) as exc:
                # a cut connection or a truncated body: the same request is safe to repeat (GET)
                code, message = "CONNECTION", str(exc)
                response = None
            status = response.status_code if response is not None else 0
            if status == 401 and code == "INVALID_SESSION_ID" and not refreshed:
                refreshed = True
                self.token_refreshes += 1
                self.authenticate()
                continue
            if code == "REQUEST_LIMIT_EXCEEDED":
                raise RequestLimitExceeded(message)
            if status in RETRYABLE_STATUS or code in RETRYABLE_CODES or code == "CONNECTION":
                delay = next(delays, None)
                if delay is not None:
                    log.warning("Salesforce %s on %s; retrying in %.1fs", code or status, path, delay)
                    time.sleep(delay)
                    continue
                raise LoaderError(
                    f"Salesforce kept failing on {path} ({code or status}: {message}) after "
                    f"{self.attempts} retries; run again later (the load resumes)."
                )
            raise LoaderError(f"Salesforce refused {path} ({status} {code}: {message})")

    def _read_usage(self, response: requests.Response) -> None:
        match = re.search(r"api-usage=(\d+)/(\d+)", response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))

    def _pace(self) -> None:
        """Wait (or stop) as the usage policy says for the org's allowance as the last response reported it."""
        if self.api_usage is None:
            return
        wait = self.usage_policy.wait_before_call(*self.api_usage)
        if wait > 0:
            used, allowed = self.api_usage
            log.info("Salesforce API requests %d/%d used: waiting %.1fs before the next call", used, allowed, wait)
            self.waited += wait
            time.sleep(wait)


def _error(response: requests.Response) -> tuple[str, str]:
    """(errorCode, message) from Salesforce's `[{"message", "errorCode"}]` body, or the status text."""
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:200] or response.reason
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "")), str(body[0].get("message", "")).strip()
    if isinstance(body, dict):
        return str(body.get("error", "")), str(body.get("error_description", ""))
    return "", str(body)[:200]
