"""The conformance suite against a SQLite store that really prunes: after every append all but
the last two events are sealed and pruned (claire.archive.prune's adapter step), and the
archive-aware store serves them from the segments."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from claire.archive.location import Location, open_location
from claire.archive.reader import ArchiveReader
from claire.archive.seal import seal
from claire.archive.store import ArchivedEventStore
from claire.store import EventStore, open_store
from claire.store.port import Batch
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance

KEEP_HOT = 2


class PruningStore(ArchivedEventStore):
    def __init__(self, hot: EventStore, location: Location) -> None:
        super().__init__(hot, ArchiveReader(location))
        self.key = Ed25519PrivateKey.generate()

    def _append(self, batch: Batch) -> list[int]:
        numbers = super()._append(batch)
        target = self.hot.head().sequence_number - KEEP_HOT
        if target > self.hot.pruned_through():
            seal(self.hot, self.archive.location, target, self.key, segment_events=256)
            record = next(self.hot.iter_records(target, target))
            self.hot.prune(target, record.hash, None)
        return numbers


class TestArchivedSqliteStore(StoreConformance, TimelineConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        hot = open_store(f"sqlite:///{tmp_path / 'events.db'}", create=True)
        with PruningStore(hot, open_location(str(tmp_path / "archive"))) as store:
            yield store
