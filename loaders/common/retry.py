"""Exponential backoff with full jitter, capped, and the one retry loop every client shares: the token POST.

The API clients keep their own call loops: each routes its vendor's error bodies differently."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import nullcontext

import requests

from loaders.common.errors import LoaderError
from loaders.common.ratelimit import RateBudget


def backoff_delays(
    attempts: int = 6, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Yield up to `attempts` delays: base*2^n with full jitter, never above cap."""
    rng = rng or random.Random()
    for n in range(attempts):
        yield rng.uniform(0, min(cap, base * (2**n)))


RETRYABLE_STATUS = frozenset({500, 502, 503, 504})


def post_with_retry(
    session: requests.Session,
    url: str,
    data: dict[str, str],
    *,
    what: str,
    attempts: int,
    backoff_base: float,
    timeout: float | tuple[float, float],
    budget: RateBudget | None = None,
) -> requests.Response:
    """POST a form (an OAuth token request), backing off on connection errors and 5xx; returns the last
    response, whatever its status, for the caller to judge. `what` names the endpoint in the error."""
    for delay in [*backoff_delays(attempts, backoff_base), None]:
        try:
            with budget.call() if budget else nullcontext():
                response = session.post(url, data=data, timeout=timeout)
        except requests.RequestException as exc:
            if delay is None:
                raise LoaderError(f"{what} at {url} is unreachable: {exc}") from exc
            time.sleep(delay)
            continue
        if response.status_code in RETRYABLE_STATUS and delay is not None:
            time.sleep(delay)
            continue
        return response
    raise AssertionError("unreachable: the last attempt returns or raises")
