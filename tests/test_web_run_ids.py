"""RunIds: which event ids one run has already handed to dlt."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

from loaders.web.run_ids import RunIds, _in_run, _new_in_runs


def test_keeps_the_first_of_each_id_across_batches():
    rng = random.Random(1)
    run_ids, seen = RunIds(), {}
    for _ in range(40):
        ids = [f"pv-{rng.randrange(5_000)}" for _ in range(rng.randrange(0, 800))]
        # an id's content is its number's parity, except now and then: a repeat whose content differs
        pages = [f"/{int(i[3:]) % 2 + (rng.random() < 0.05)}" for i in ids]
        expected, expected_differs = [], []
        for i, page in zip(ids, pages, strict=True):
            expected.append(i not in seen)
            expected_differs.append(i in seen and seen[i] != page)
            seen.setdefault(i, page)
        rows = pa.table({"id": pa.array(ids, pa.string()), "current_page_raw": pa.array(pages, pa.string())})
        keep, differs = run_ids.keep_new(rows)
        assert keep.tolist() == expected
        assert differs.tolist() == expected_differs
    assert len(run_ids) == len(seen)


def test_ids_sharing_the_first_hash_are_told_apart_by_the_second():
    u = np.uint64
    first, second = np.array([1, 1, 1, 1, 2], dtype=u), np.array([5, 6, 5, 6, 7], dtype=u)
    assert _new_in_runs(first, second).tolist() == [True, True, False, False, True]
    run = (np.array([1, 1, 3], dtype=u), np.array([5, 6, 8], dtype=u), np.array([0, 0, 0], dtype=u))
    asked_first, asked_second = np.array([1, 1, 1, 3, 4], dtype=u), np.array([6, 5, 9, 8, 8], dtype=u)
    assert _in_run(run, asked_first, asked_second).tolist() == [1, 0, -1, 2, -1]
