"""The event ids one run has already handed to dlt, so each id reaches the destination once.

Events land with dlt's `insert-only` merge (an id already in the table is skipped; no delete, no update),
which, unlike `delete-insert`, does not de-duplicate the staging rows: two copies of an event within one run
(a re-delivered file beside the original, a tracker retry) would both be inserted. `RunIds` drops the later
copies before dlt sees them.

Each id's first copy also leaves a 64-bit hash of its content, so a later copy that differs (the same id
sent twice with different content) is told apart from a plain re-delivery: the caller quarantines it.

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
        # Sorted runs of (first hash, second hash, content hash), each at most half the size of the one
        # before, so a batch costs a few binary searches and each id is re-sorted only a few times over a run.
        self._runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return sum(len(first) for first, _, _ in self._runs)

    def keep_new(self, rows: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        """(keep, differs) masks over `rows` (an `id` column and the content columns): keep marks the rows
        whose id this run has not seen (of equal ids within `rows`, the first), which count as seen from now
        on; differs marks the other rows whose content is not their id's first copy's."""
        batch = rows  # noqa: F841 - DuckDB reads it by name
        content = ", ".join(f'"{name}"' for name in rows.column_names)
        hashes = self._duckdb.sql(
            f"select hash(id), hash('{self._salt}' || id), hash({content}) from batch"
        ).to_arrow_table()
        first, second, digest = (np.asarray(c.to_numpy()) for c in hashes.columns)
        order = np.argsort(first, kind="stable")
        first, second, digest = first[order], second[order], digest[order]

        new = np.ones(len(first), dtype=bool)
        same_first = first[1:] == first[:-1]
        repeat = same_first & (second[1:] == second[:-1])
        new[1:] &= ~repeat
        differs = np.zeros(len(first), dtype=bool)
        if repeat.any():  # compare each repeat with its id's first row in the batch
            group_start = np.maximum.accumulate(np.where(np.concatenate(([True], ~repeat)), np.arange(len(first)), 0))
            differs = ~new & (digest != digest[group_start])
        if (same_first & (second[1:] != second[:-1])).any():
            new = _new_in_runs(first, second)
        for run in self._runs:  # an id's first copy ever is in an earlier batch: compare with that one
            at = _in_run(run, first, second)
            found = at >= 0
            differs = np.where(found, run[2][np.maximum(at, 0)] != digest, differs)
            new &= ~found

        self._runs.append((first[new], second[new], digest[new]))
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            a, b = self._runs.pop(-2), self._runs.pop()
            merged = np.concatenate((a[0], b[0]))
            by_first = np.argsort(merged, kind="stable")  # two sorted runs: a linear merge
            self._runs.append(
                (merged[by_first], np.concatenate((a[1], b[1]))[by_first], np.concatenate((a[2], b[2]))[by_first])
            )
        keep = np.empty(len(new), dtype=bool)
        keep[order] = new
        different = np.empty(len(new), dtype=bool)
        different[order] = differs
        return keep, different


def _in_run(run: tuple[np.ndarray, np.ndarray, np.ndarray], first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Where the sorted run holds each (first, second) pair, or -1."""
    run_first, run_second, _ = run
    found = np.full(len(first), -1, dtype=np.int64)
    if not len(run_first):
        return found
    at = np.minimum(np.searchsorted(run_first, first), len(run_first) - 1)
    rows = np.flatnonzero(run_first[at] == first)
    same = run_second[at[rows]] == second[rows]
    found[rows[same]] = at[rows[same]]
    for i in rows[~same]:  # another id in the run may share this first hash
        end = np.searchsorted(run_first, first[i], side="right")
        hits = np.flatnonzero(run_second[at[i] : end] == second[i])
        if len(hits):
            found[i] = at[i] + hits[0]
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
