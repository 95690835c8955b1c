"""The read-ahead thread: same events in the same order, errors raised, early stops clean."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from claire.errors import StoreError
from claire.events import BaseEvent
from claire.replay.engine import ReplayEngine
from claire.replay.prefetch import Prefetched
from claire.store.memory import MemoryEventStore
from tests.factories import factory, trade


def events(n: int) -> list[BaseEvent]:
    f = factory()
    out: list[BaseEvent] = []
    while len(out) < n:
        out.extend(trade(f))
    return out[:n]


def test_prefetched_yields_every_event_in_order() -> None:
    source = events(23)
    assert list(Prefetched(iter(source), chunk=4)) == source


def test_an_error_in_the_reader_is_raised_in_the_consumer() -> None:
    def failing() -> Iterator[BaseEvent]:
        yield from events(5)
        raise StoreError("connection lost")

    seen = []
    with pytest.raises(StoreError, match="connection lost"):
        for event in Prefetched(failing(), chunk=2):
            seen.append(event)
    assert len(seen) == 4  # the two full pages before the failure


def test_stopping_early_stops_the_reader_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless() -> Iterator[BaseEvent]:
        try:
            while True:
                yield from events(5)
        finally:
            closed.set()

    reader = Prefetched(endless(), chunk=3, depth=1)
    for index, _ in enumerate(reader):
        if index == 10:
            break
    reader.close()
    assert closed.wait(5)
    assert not any(t.name == "claire-replay-reader" and t.is_alive() for t in threading.enumerate())


def test_long_replays_read_ahead_and_give_the_same_state() -> None:
    store = MemoryEventStore()
    store.append(events(3000))
    ahead = ReplayEngine(store, batch_size=200).replay(1, 3000)
    plain = ReplayEngine(store, batch_size=5000).replay(1, 3000)  # one page: no reader thread
    assert ahead.state.hash() == plain.state.hash()
    assert ahead.events_in_range == 3000


def test_gc_is_relaxed_during_a_replay_and_restored_after() -> None:
    import gc

    from claire.gc_tuning import GEN0_THRESHOLD, relaxed_gc

    before = gc.get_threshold()
    with relaxed_gc():
        with relaxed_gc():
            assert gc.get_threshold()[0] >= GEN0_THRESHOLD
            assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] >= GEN0_THRESHOLD
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
