"""LogicalClock: strictly increasing, unique under threads, Lamport merge, no wall clock."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claire import LogicalClock


@settings(max_examples=25, deadline=None)
@given(threads=st.integers(2, 8), ticks=st.integers(1, 300), start=st.integers(0, 10**12))
def test_next_is_unique_and_increasing_under_threads(threads: int, ticks: int, start: int) -> None:
    clock = LogicalClock(start)
    seen: list[list[int]] = [[] for _ in range(threads)]

    def work(mine: list[int]) -> None:
        for _ in range(ticks):
            mine.append(clock.next())

    workers = [threading.Thread(target=work, args=(seen[i],)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    everything = [v for mine in seen for v in mine]
    assert len(set(everything)) == threads * ticks
    assert sorted(everything) == list(range(start + 1, start + threads * ticks + 1))
    for mine in seen:
        assert mine == sorted(mine) and len(set(mine)) == len(mine)


@given(st.lists(st.one_of(st.just(None), st.integers(0, 10**9)), max_size=200))
def test_observe_then_next_is_later_than_everything_seen(ops: list[int | None]) -> None:
    clock = LogicalClock()
    highest = 0
    for op in ops:
        if op is None:
            value = clock.next()
            assert value > highest
            highest = value
        else:
            clock.observe(op)
            highest = max(highest, op)
    assert clock.next() > highest


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError, match="start"):
        LogicalClock(-1)
    with pytest.raises(ValueError, match="received"):
        LogicalClock().observe(-5)
