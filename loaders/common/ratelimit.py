"""A client-side call budget: at most N calls per sliding window and at most M in flight."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class RateBudget:
    """Thread-safe. `with budget.call(): ...` waits until a call fits in the window and a slot is free.

    Marketo allows 100 calls / 20 s and 10 concurrent calls per instance; Salesforce and Dataverse have
    their own limits. `calls_made` counts every call for progress output.
    """

    def __init__(self, max_calls: int, per_seconds: float, max_concurrent: int = 10) -> None:
        self.max_calls = max_calls
        self.per_seconds = per_seconds
        # a call counts from its start until `per_seconds` after it ends: the server stamps it somewhere in
        # between, so a call that waited on the network cannot make it see one call too many in its window
        self._ended: deque[float] = deque()
        self._in_flight = 0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self.calls_made = 0

    def _wait_for_window(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                while self._ended and now - self._ended[0] >= self.per_seconds:
                    self._ended.popleft()
                if len(self._ended) + self._in_flight < self.max_calls:
                    self._in_flight += 1
                    self.calls_made += 1
                    return
                wait = self.per_seconds - (now - self._ended[0]) if self._ended else 0.01
            time.sleep(max(wait, 0.001))

    @contextmanager
    def call(self) -> Iterator[None]:
        with self._slots:
            self._wait_for_window()
            try:
                yield
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._ended.append(time.monotonic())
