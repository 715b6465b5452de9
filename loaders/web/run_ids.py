"""The event ids one run has already handed to dlt, so each id reaches the destination once.

Events land with dlt's `insert-only` merge (an id already in the table is skipped; no delete, no update),
which, unlike `delete-insert`, does not de-duplicate the staging rows: two copies of an event within one run
(a re-delivered file beside the original, a tracker retry) would both be inserted. `RunIds` drops the later
copies before dlt sees them.

Ids are held as two 64-bit hashes (128 bits, the size dlt trusts for its own primary-key hashes; DuckDB's
`hash` of the id and of the id behind a random per-run prefix) in sorted NumPy arrays: 16 bytes per event
and whole batches checked at once, where a Python set of the ids would take ~100 bytes per event and a
Python call per id.
"""

from __future__ import annotations

import secrets

import duckdb
import numpy as np
import pyarrow as pa


class RunIds:
    def __init__(self) -> None:
        self._salt = secrets.token_hex(8)
        self._duckdb = duckdb.connect(config={"threads": 1})
        # Sorted runs of (first hash, second hash), each at most half the size of the one before, so a batch
        # costs a few binary searches and each id is re-sorted only a few times over a run (not once per batch).
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(first) for first, _ in self._runs)

    def keep_new(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """A mask of the rows whose id this run has not seen (of equal ids within `ids`, the first); the
        kept ids count as seen from now on."""
        batch = pa.table({"id": ids})  # noqa: F841 - DuckDB reads it by name
        hashes = self._duckdb.sql(f"select hash(id), hash('{self._salt}' || id) from batch").to_arrow_table()
        first, second = (np.asarray(c.to_numpy()) for c in hashes.columns)
        order = np.argsort(first, kind="stable")
        first, second = first[order], second[order]

        new = np.ones(len(first), dtype=bool)
        same_first = first[1:] == first[:-1]
        new[1:] &= ~(same_first & (second[1:] == second[:-1]))
        if (same_first & (second[1:] != second[:-1])).any():
            new = _new_in_runs(first, second)
        for run in self._runs:
            new &= ~_in_run(run, first, second)

        self._runs.append((first[new], second[new]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (first_a, second_a), (first_b, second_b) = self._runs.pop(-2), self._runs.pop()
            merged = np.concatenate((first_a, first_b))
            by_first = np.argsort(merged, kind="stable")  # two sorted runs: a linear merge
            self._runs.append((merged[by_first], np.concatenate((second_a, second_b))[by_first]))
        keep = np.empty(len(new), dtype=bool)
        keep[order] = new
        return keep


def _in_run(run: tuple[np.ndarray, np.ndarray], first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Which (first, second) pairs the sorted run holds."""
    run_first, run_second = run
    found = np.zeros(len(first), dtype=bool)
    if not len(run_first):
        return found
    at = np.minimum(np.searchsorted(run_first, first), len(run_first) - 1)
    rows = np.flatnonzero(run_first[at] == first)
    same = run_second[at[rows]] == second[rows]
    found[rows[same]] = True
    for i in rows[~same]:  # another id in the run may share this first hash
        end = np.searchsorted(run_first, first[i], side="right")
        found[i] = (run_second[at[i] : end] == second[i]).any()
    return found


def _new_in_runs(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """`new` for rows sorted by `first` when some equal `first` values have different `second` values (two
    ids sharing one 64-bit hash): the first occurrence of each (first, second) pair."""
    new = np.ones(len(first), dtype=bool)
    starts = np.flatnonzero(np.concatenate(([True], first[1:] != first[:-1], [True])))
    for start, end in zip(starts[:-1], starts[1:], strict=True):
        if end - start > 1:
            _, index = np.unique(second[start:end], return_index=True)
            new[start:end] = False
            new[start + index] = True
    return new
