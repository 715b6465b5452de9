"""RunIds: which event ids one run has already handed to dlt."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa

from loaders.web.run_ids import RunIds, _in_run, _new_in_runs


def test_keeps_the_first_of_each_id_across_batches():
    rng = random.Random(1)
    run_ids, seen = RunIds(), set()
    for _ in range(40):
        ids = [f"pv-{rng.randrange(5_000)}" for _ in range(rng.randrange(0, 800))]
        expected = []
        for i in ids:
            expected.append(i not in seen)
            seen.add(i)
        assert run_ids.keep_new(pa.chunked_array([pa.array(ids, pa.string())])).tolist() == expected
    assert len(run_ids) == len(seen)


def test_ids_sharing_the_first_hash_are_told_apart_by_the_second():
    u = np.uint64
    first, second = np.array([1, 1, 1, 1, 2], dtype=u), np.array([5, 6, 5, 6, 7], dtype=u)
    assert _new_in_runs(first, second).tolist() == [True, True, False, False, True]
    run = (np.array([1, 1, 3], dtype=u), np.array([5, 6, 8], dtype=u))
    asked_first, asked_second = np.array([1, 1, 1, 3, 4], dtype=u), np.array([6, 5, 9, 8, 8], dtype=u)
    assert _in_run(run, asked_first, asked_second).tolist() == [True, True, False, True, False]
