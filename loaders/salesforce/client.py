"""Salesforce REST API client: OAuth client credentials, the error-code table, retries, the call budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
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
        """Pages of records (attributes removed) for a SOQL query over queryAll, deleted rows included."""
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
            try:
                with self.budget.call():
                    response = self.session.get(
                        url,
                        params=params,
                        timeout=self.timeout,
                        headers={"Authorization": f"Bearer {self._token}"},
                    )
                log.debug("GET %s -> %s", path, response.status_code)
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
