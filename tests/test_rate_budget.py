"""The client-side call budget (loaders/common/ratelimit.py) against what a server counts."""

from __future__ import annotations

import time

from loaders.common import RateBudget


def test_a_call_slow_to_arrive_still_counts_in_the_servers_window():
    """The server stamps a call when it arrives, which can be well after the client sent it: the budget must
    not let a call in that makes the server see more than max_calls in one window."""
    budget = RateBudget(max_calls=3, per_seconds=0.5, max_concurrent=10)
    arrivals = []
    for delay in (0.3, 0, 0, 0, 0, 0):
        with budget.call():
            time.sleep(delay)  # the first call waits on the network
            arrivals.append(time.monotonic())
    for at in arrivals:
        in_window = [a for a in arrivals if at - 0.5 < a <= at]
        assert len(in_window) <= 3, f"{len(in_window)} calls arrived within 0.5 s"
