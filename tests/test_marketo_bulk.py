"""The bulk file's parse helpers on their own (the loader tests run them against the emulator)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from loaders.marketo.bulk import RepeatFilter

DAY = datetime(2024, 3, 1, tzinfo=UTC)


def batch(ids: list[int], days: list[int]) -> pa.Table:
    updated = [DAY + timedelta(days=d) for d in days]
    return pa.table({"id": pa.array(ids, pa.int64()), "updatedAt": pa.array(updated, pa.timestamp("us", "UTC"))})


def test_repeat_filter_passes_first_rows_and_finds_newer_repeats_across_batches():
    repeats = RepeatFilter()
    assert repeats.first(batch([3, 1, 2, 1], [1, 1, 1, 2])).column("id").to_pylist() == [3, 1, 2]
    assert repeats.first(batch([5, 2, 4, 3], [1, 0, 1, 2])).column("id").to_pylist() == [5, 4]
    assert repeats.first(batch([6, 7], [0, 0])).column("id").to_pylist() == [6, 7]
    # 1 and 3 came again with a later updatedAt; 2's repeat is older than its first row
    assert sorted(repeats.newer().column("id").to_pylist()) == [1, 3]
