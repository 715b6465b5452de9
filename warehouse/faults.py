"""Named fault points for the fault matrix (`make faults`): off unless MARKETO_PEOPLE_FAULT_AT names one.

`fault_point("marketo.download")` does nothing in a normal run. With MARKETO_PEOPLE_FAULT_AT=marketo.download
the process kills itself (SIGKILL: no cleanup, no atexit, exactly a `kill -9` or an OOM kill) when it gets
there; `name@N` kills on the N-th time instead. dbt reaches the same points through the SQL function
`marketo_people_fault(name)` that the profile's plugin registers when the variable is set, so tests can put
a kill inside a model's transaction, between a model and its post-hook, or in a data test.
"""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from collections.abc import Callable

ENV = "MARKETO_PEOPLE_FAULT_AT"
_reached: Counter[str] = Counter()
_watched: set[str] = set()
_guard = threading.Lock()


def armed() -> bool:
    return bool(os.environ.get(ENV))


def fault_point(name: str) -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition("@")
    if point != name:
        return
    with _guard:
        _reached[name] += 1
        if _reached[name] < int(nth or 1):
            return
    os.kill(os.getpid(), signal.SIGKILL)


def kill_once(condition: Callable[[], bool], name: str, poll_seconds: float = 0.001) -> None:
    """Arms `name` as a watcher: while armed, a thread kills the process as soon as `condition()` holds
    (for states that happen inside a library's own step, e.g. dlt's load between two committed tables)."""
    wanted = os.environ.get(ENV, "").partition("@")[0]
    with _guard:
        if wanted != name or name in _watched:
            return
        _watched.add(name)

    def watch() -> None:
        while True:
            try:
                if condition():
                    os.kill(os.getpid(), signal.SIGKILL)
            except OSError:
                pass
            threading.Event().wait(poll_seconds)

    threading.Thread(target=watch, daemon=True, name=f"fault-{name}").start()
