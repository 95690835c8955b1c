"""The read-ahead thread: same pages in the same order, errors raised, early stops clean."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from claire.errors import StoreError
from claire.events import BaseEvent
from claire.store import open_store
from claire.store.readahead import THREAD_NAME, ReadAhead
from rigs.factories import factory, trade


def events(n: int) -> list[BaseEvent]:
    f = factory()
    out: list[BaseEvent] = []
    while len(out) < n:
        out.extend(trade(f))
    return out[:n]


def readers_alive() -> bool:
    return any(t.name == THREAD_NAME and t.is_alive() for t in threading.enumerate())


def test_read_ahead_yields_every_item_in_order() -> None:
    assert list(ReadAhead(iter(range(23)))) == list(range(23))


def test_an_error_in_the_thread_is_raised_in_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield from range(4)
        raise StoreError("connection lost")

    seen = []
    with pytest.raises(StoreError, match="connection lost"):
        for item in ReadAhead(failing()):
            seen.append(item)
    assert seen == [0, 1, 2, 3]
    assert not readers_alive()


def test_stopping_early_stops_the_thread_and_closes_the_source() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            while True:
                yield 1
        finally:
            closed.set()

    reader = ReadAhead(endless(), depth=1)
    for index, _ in enumerate(reader):
        if index == 10:
            break
    reader.close()
    assert closed.wait(5)
    assert not readers_alive()


def test_a_long_store_read_reads_ahead_and_returns_the_same_events(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'events.db'}", create=True) as store:
        store.append(events(1000))
        one_page = list(store.read(batch_size=5000))
        reading = store.read(batch_size=64)
        first = next(reading)
        assert readers_alive()  # the first page was full: the rest is fetched ahead
        assert [first, *reading] == one_page
        assert [e.sequence_number for e in one_page] == list(range(1, 1001))
        abandoned = store.read(batch_size=64)
        next(abandoned)
        abandoned.close()  # type: ignore[attr-defined]  # a generator
        assert not readers_alive()
