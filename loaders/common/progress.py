"""Progress lines on stderr for long loads, at most one every `every` seconds (and always the last)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


class Progress:
    def __init__(self, source: str, every: float = 2.0, stream: TextIO | None = None) -> None:
        self.source = source
        self.every = every
        self.stream = stream or sys.stderr
        self._last = 0.0
        self.started = time.monotonic()

    def say(self, message: str) -> None:
        """Always printed: milestones, warnings, fallbacks."""
        print(f"[{self.source}] {message}", file=self.stream, flush=True)

    def tick(self, message: str, force: bool = False) -> None:
        """Throttled: counters that change often."""
        now = time.monotonic()
        if force or now - self._last >= self.every:
            self._last = now
            elapsed = now - self.started
            print(f"[{self.source}] {elapsed:7.1f}s  {message}", file=self.stream, flush=True)
