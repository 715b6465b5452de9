"""Marketo REST/Bulk API client: OAuth, the JSON envelope, the error-code table, retries, the call budget.

Every Marketo response is HTTP 200 with `success` in the body, so errors are routed by Marketo's code,
not by HTTP status. The table below is the whole policy; resources never see a retryable error.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from loaders.common import LoaderError, RateBudget, StopWithProgress, backoff_delays
from loaders.common.retry import post_with_retry

log = logging.getLogger(__name__)

# Marketo error codes -> what we do (https://developer.adobe.com/marketo-apis/error-codes/)
REFRESH_TOKEN = {"600", "601", "602"}
RETRY = {
    "604": "request timed out",
    "606": "rate limit (100 calls / 20 s) exceeded",
    "608": "API temporarily unavailable",
    "611": "system error",
    "615": "concurrent access limit (10) reached",
}
DAILY_QUOTA = "607"
NOT_FOUND = "610"  # no such endpoint: base_url points somewhere else than the instance's REST endpoint
EXPORT_LIMIT = "1029"  # queue full (retry later) or daily export quota used up (stop)
UNSUPPORTED_FILTER = "1035"


class MarketoApiError(LoaderError):
    def __init__(self, code: str, message: str, path: str) -> None:
        self.code = code
        self.api_message = message
        super().__init__(f"Marketo error {code} on {path}: {message}")


class UnsupportedFilter(MarketoApiError):
    """1035: the subscription does not allow this bulk filter (updatedAt on many instances)."""


class RetryableStreamError(requests.ConnectionError):
    """A retryable Marketo error on a file download; the downloader backs off and resumes."""


class ExportQueueFull(MarketoApiError):
    """1029 'too many jobs in queue': other integrations fill the export queue; wait and retry."""


@dataclass
class RetryPolicy:
    attempts: int = 8
    base_seconds: float = 1.0
    cap_seconds: float = 60.0


class MarketoClient:
    """One Marketo instance. Thread-safe for concurrent calls (the budget caps concurrency)."""

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        budget: RateBudget | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = (10.0, 300.0),
        session: requests.Session | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise LoaderError(
                f"sources.marketo.base_url must be the REST endpoint, like https://123-ABC-456.mktorest.com "
                f"(Admin > Web Services in Marketo); got {base_url!r}"
            )
        self.base_url = base_url.rstrip("/").removesuffix("/rest")
        self._client_id = client_id
        self._client_secret = client_secret
        self.budget = budget or RateBudget(max_calls=100, per_seconds=20.0, max_concurrent=10)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.session = session or requests.Session()
        self._token: str | None = None
        self._token_expires_at = 0.0

    # ---------------------------------------------------------------- auth
    def _fetch_token(self) -> None:
        url = f"{self.base_url}/identity/oauth/token"
        params = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        resp = post_with_retry(
            self.session,
            url,
            params,
            what="Marketo's identity service",
            attempts=self.retry.attempts,
            backoff_base=self.retry.base_seconds,
            timeout=self.timeout,
        )
        if resp.status_code in (400, 401):
            raise LoaderError(
                "Marketo refused the client credentials (HTTP "
                f"{resp.status_code}: {resp.text[:200]}). Check SOURCES__MARKETO__CLIENT_ID and "
                "SOURCES__MARKETO__CLIENT_SECRET (Admin > LaunchPoint > View Details)."
            )
        if resp.status_code != 200:
            raise LoaderError(f"Marketo's identity service answered HTTP {resp.status_code}: {resp.text[:200]}")
        body = resp.json()
        self._token = body["access_token"]
        # refresh a minute early (or at half-life for short-lived tokens) so no call races expiry
        ttl = float(body.get("expires_in", 3600))
        self._token_expires_at = time.monotonic() + ttl - min(60.0, ttl / 2)

    def _auth_header(self) -> dict[str, str]:
        if self._token is None or time.monotonic() >= self._token_expires_at:
            self._fetch_token()
        return {"Authorization": f"Bearer {self._token}"}

    # ---------------------------------------------------------------- calls
    def call(self, method: str, path: str, *, params: dict | None = None, json: Any = None) -> dict:
        """A JSON API call; returns the whole envelope on success. Retries per the error table."""
        delays = backoff_delays(self.retry.attempts, self.retry.base_seconds, self.retry.cap_seconds)
        while True:
            try:
                with self.budget.call():
                    resp = self.session.request(
                        method,
                        self.base_url + path,
                        params=params,
                        json=json,
                        headers=self._auth_header(),
                        timeout=self.timeout,
                    )
            except requests.RequestException as exc:
                self._wait_or_raise(delays, path, f"connection error: {exc}")
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                self._wait_or_raise(delays, path, f"HTTP {resp.status_code}")
                continue
            if resp.status_code == 401:
                self._token = None
                self._wait_or_raise(delays, path, "HTTP 401")
                continue
            if resp.status_code != 200:
                raise LoaderError(f"Marketo answered HTTP {resp.status_code} on {path}: {resp.text[:300]}")
            body = resp.json()
            if body.get("success", True):
                return body
            if self.route_error(*_first_error(body), path=path) == "refresh":
                self._wait_or_raise(delays, path, "token refreshed", sleep=False)
            else:
                self._wait_or_raise(delays, path, " ".join(_first_error(body)))

    def route_error(self, code: str, message: str, path: str) -> str:
        """What to do with a Marketo error: returns "refresh" (token fetched anew, call again) or "retry"
        (back off, call again); raises for everything else."""
        if code in REFRESH_TOKEN:
            log.info("token rejected (%s), fetching a new one", code)
            self._token = None
            return "refresh"
        if code in RETRY:
            return "retry"
        if code == DAILY_QUOTA:
            raise StopWithProgress(
                "Marketo's daily API call quota is used up (607). What was loaded is kept and the "
                "resume point is saved; run again after the quota resets (midnight US Central time), "
                "or ask Marketo support to raise the quota."
            )
        if code == EXPORT_LIMIT:
            if "quota" in message.lower():
                raise StopWithProgress(
                    f"Marketo's daily bulk export quota is used up (1029: {message}). What was loaded "
                    "is kept and the resume point is saved; the next run after the quota resets "
                    "(midnight US Central time) continues from there."
                )
            raise ExportQueueFull(code, message, path)
        if code == UNSUPPORTED_FILTER:
            raise UnsupportedFilter(code, message, path)
        if code == NOT_FOUND:
            raise LoaderError(
                f"Marketo error 610 on {path}: {message}. Check SOURCES__MARKETO__BASE_URL: it must be the REST "
                f"endpoint without a path, like https://123-ABC-456.mktorest.com (Admin > Web Services); "
                f"it is {self.base_url}"
            )
        raise MarketoApiError(code, message, path)

    def _wait_or_raise(self, delays: Iterator[float], path: str, why: str, sleep: bool = True) -> None:
        delay = next(delays, None)
        if delay is None:
            raise LoaderError(
                f"Marketo kept failing on {path} ({why}) after {self.retry.attempts} retries; "
                "nothing is lost, run again later"
            )
        log.info("retrying %s in %.2fs: %s", path, delay, why)
        if sleep:
            time.sleep(delay)

    def stream(self, path: str, headers: dict[str, str] | None = None) -> requests.Response:
        """A raw streaming GET (bulk files). The caller handles HTTP status codes and retries.

        Marketo answers errors on file endpoints as a JSON envelope with HTTP 200, not as the file: those
        are routed like any call's (a retryable one raises RetryableStreamError for the caller's backoff).
        """
        with self.budget.call():
            resp = self.session.get(
                self.base_url + path,
                headers={**self._auth_header(), **(headers or {})},
                stream=True,
                timeout=self.timeout,
            )
        if resp.status_code == 200 and "json" in resp.headers.get("Content-Type", ""):
            body = resp.json()
            resp.close()
            if not body.get("success", True):
                code, message = _first_error(body)
                self.route_error(code, message, path)
                raise RetryableStreamError(f"Marketo {code}: {message}")
        return resp

    # ---------------------------------------------------------------- endpoints
    def describe_leads(self) -> list[dict]:
        return self.call("GET", "/rest/v1/leads/describe.json").get("result", [])

    def paging_token(self, since_iso: str) -> str:
        return self.call("GET", "/rest/v1/activities/pagingtoken.json", params={"sinceDatetime": since_iso})[
            "nextPageToken"
        ]

    def deleted_leads(self, page_token: str, batch_size: int = 300) -> tuple[list[dict], str, bool]:
        body = self.call(
            "GET",
            "/rest/v1/activities/deletedleads.json",
            params={"nextPageToken": page_token, "batchSize": batch_size},
        )
        return body.get("result", []) or [], body.get("nextPageToken", page_token), bool(body.get("moreResult"))


def _first_error(body: dict) -> tuple[str, str]:
    errors = body.get("errors") or [{}]
    return str(errors[0].get("code", "unknown")), str(errors[0].get("message", "no message"))
