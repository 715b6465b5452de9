"""Exponential backoff with full jitter, capped; the retry loops themselves live in each API client."""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(
    attempts: int = 6, base: float = 1.0, cap: float = 60.0, rng: random.Random | None = None
) -> Iterator[float]:
    """Yield up to `attempts` delays: base*2^n with full jitter, never above cap."""
    rng = rng or random.Random()
    for n in range(attempts):
        yield rng.uniform(0, min(cap, base * (2**n)))
