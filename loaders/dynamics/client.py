"""Dataverse Web API client: Entra ID client credentials, error handling, 429 Retry-After, retries, budget."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import requests

from loaders.common import LoaderError, RateBudget, backoff_delays
from loaders.common.retry import RETRYABLE_STATUS, post_with_retry

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2"
# A 429 is Dataverse's service protection saying "slow down", not a failure: keep honouring it this often
MAX_THROTTLES_PER_CALL = 20


class Throttled(Exception):
    """Dataverse asked to wait longer than the loader is configured to (Retry-After > max_retry_after)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"Dataverse asked to retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class DynamicsClient:
    """One Dataverse environment. `pages()` yields the rows of an entity set query, following nextLink.

    A 401 gets one fresh token and a retry; 429 sleeps for Retry-After (Dataverse's service protection
    limits: 6,000 requests / 5 min per user) unless that is longer than `max_retry_after`, which raises
    Throttled so the caller can stop cleanly; 5xx and cut connections back off and retry.
    """

    def __init__(
        self,
        base_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None = None,
        budget: RateBudget | None = None,
        attempts: int = 6,
        backoff_base: float = 1.0,
        max_retry_after: float = 300.0,
        timeout: float = 120.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.scope = scope or f"{self.base_url}/.default"
        # 6,000 calls per 5 minutes and 52 concurrent calls per user are Dataverse's limits; stay under them
        self.budget = budget or RateBudget(max_calls=5000, per_seconds=300.0, max_concurrent=8)
        self.attempts = attempts
        self.backoff_base = backoff_base
        self.max_retry_after = max_retry_after
        self.timeout = timeout
        self.session = session or requests.Session()
        self._token: str | None = None
        self.token_refreshes = 0
        self.throttled = 0

    def authenticate(self) -> None:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scope": self.scope,
        }
        response = post_with_retry(
            self.session,
            self.token_url,
            data,
            what="the token endpoint",
            attempts=self.attempts,
            backoff_base=self.backoff_base,
            timeout=self.timeout,
        )
        if response.status_code != 200:
            try:
                body = response.json()
                detail = f"{body.get('error')}: {str(body.get('error_description', '')).splitlines()[0]}"
            except ValueError:
                detail = response.text[:200]
            raise LoaderError(
                f"the token endpoint refused the client credentials ({response.status_code} {detail}). Check "
                "SOURCES__DYNAMICS__CLIENT_ID / __CLIENT_SECRET / __TOKEN_URL, and that "
                "SOURCES__DYNAMICS__SCOPE is the org URL followed by /.default and the app is an "
                "application user in the environment."
            )
        self._token = response.json()["access_token"]

    def pages(self, entity_set: str, params: dict[str, str], page_size: int) -> Iterator[list[dict]]:
        """Rows (OData annotations removed) of one query, page by page, following `@odata.nextLink`."""
        url: str | None = f"{self.base_url}{API_PATH}/{entity_set}"
        query: dict[str, str] | None = params
        followed: set[str] = set()
        while url:
            body = self._get(url, query, page_size)
            yield [{k: v for k, v in row.items() if not k.startswith("@")} for row in body["value"]]
            # the next link is absolute and carries every query option plus the paging cookie
            url, query = body.get("@odata.nextLink"), None
            if url in followed:
                raise LoaderError(
                    f"Dataverse's @odata.nextLink for {entity_set} led back to a page already read (after "
                    f"{len(followed) + 1} pages); stopping rather than paging in a loop. What was read is "
                    "loaded; run again (the load resumes after it). If it persists, report it to Microsoft."
                )
            if url:
                followed.add(url)

    def _get(self, url: str, params: dict[str, str] | None, page_size: int) -> dict[str, Any]:
        if self._token is None:
            self.authenticate()
        refreshed = False
        throttles = 0
        delays = backoff_delays(self.attempts, self.backoff_base)
        while True:
            headers = {
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/json",
                "OData-Version": "4.0",
                "OData-MaxVersion": "4.0",
                "Prefer": f"odata.maxpagesize={page_size}",
            }
            try:
                with self.budget.call():
                    response = self.session.get(url, params=params, headers=headers, timeout=self.timeout)
                log.debug("GET %s -> %s", url.split("?")[0], response.status_code)
                if response.status_code == 200:
                    return response.json()
                status, message = response.status_code, _error_message(response)
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                ValueError,
            ) as exc:
                # a cut connection or a truncated body: a GET is safe to repeat
                response, status, message = None, 0, str(exc)
            if status == 401 and not refreshed:
                refreshed = True
                self.token_refreshes += 1
                self.authenticate()
                continue
            if status == 429 and response is not None:
                retry_after = _retry_after(response)
                throttles += 1
                self.throttled += 1
                if retry_after > self.max_retry_after or throttles > MAX_THROTTLES_PER_CALL:
                    raise Throttled(retry_after)
                log.warning("Dataverse throttled the call; waiting %.0f s (Retry-After)", retry_after)
                time.sleep(retry_after)
                continue
            if status in RETRYABLE_STATUS or status == 0:
                delay = next(delays, None)
                if delay is not None:
                    log.warning("Dataverse %s (%s); retrying in %.1fs", status or "connection error", message, delay)
                    time.sleep(delay)
                    continue
                raise LoaderError(
                    f"Dataverse kept failing ({status or 'connection error'}: {message}) after "
                    f"{self.attempts} retries; run again later (the load resumes)."
                )
            raise LoaderError(f"Dataverse refused {url.split('?')[0]} ({status}: {message})")


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.headers.get("WWW-Authenticate") or response.text[:200] or response.reason
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('code')} {error.get('message')}"
    return str(body)[:200]


def _retry_after(response: requests.Response) -> float:
    """Retry-After in seconds (Dataverse sends seconds; an HTTP date or nothing means a short wait)."""
    value = response.headers.get("Retry-After", "")
    return float(value) if re.fullmatch(r"\d+(\.\d+)?", value.strip()) else 5.0
