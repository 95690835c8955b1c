"""The conformance suite against a SQLite store, and a PostgreSQL one, that really prune: after
every append all but the last two events are sealed and pruned (claire.archive.prune's adapter
step), and the archive-aware store serves them from the segments."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from claire.archive.location import Location, open_location
from claire.archive.reader import ArchiveReader
from claire.archive.seal import seal
from claire.archive.store import ArchivedEventStore
from claire.errors import ArchiveBoundaryError
from claire.store import EventStore, open_store
from claire.store.port import Batch, Expectation
from claire.store.postgres import PostgresEventStore
from claire.store.sqlite import SqliteEventStore
from rigs.factories import factory, trade
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance
from tests.conformance.versions_suite import SchemaVersionConformance

KEEP_HOT = 2


class PruningStore(ArchivedEventStore):
    def __init__(self, hot: EventStore, location: Location) -> None:
        super().__init__(hot, ArchiveReader(location))
        self.key = Ed25519PrivateKey.generate()

    def _append(self, batch: Batch, expect: Expectation | None = None) -> list[int]:
        numbers = super()._append(batch, expect)
        target = self.hot.head().sequence_number - KEEP_HOT
        if target > self.hot.pruned_through():
            seal(self.hot, self.archive.location, target, self.key, segment_events=256)
            record = next(self.hot.iter_records(target, target))
            self.hot.prune(target, record.hash, None)
        return numbers


class TestArchivedSqliteStore(StoreConformance, TimelineConformance, SchemaVersionConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        hot = open_store(f"sqlite:///{tmp_path / 'events.db'}", create=True)
        with PruningStore(hot, open_location(str(tmp_path / "archive"))) as store:
            yield store


class TestArchivedPostgresStore(StoreConformance, TimelineConformance):
    @pytest.fixture
    def store(self, pg_url: str, tmp_path: Path) -> Iterator[EventStore]:
        hot = open_store(pg_url, create=True)
        with PruningStore(hot, open_location(str(tmp_path / "archive"))) as store:
            yield store


@pytest.fixture(params=["sqlite", "postgresql"])
def hot_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return str(request.getfixturevalue("pg_url"))


def hot_only(url: str) -> EventStore:
    """The adapter alone (open_store refuses a pruned store without its archive)."""
    return SqliteEventStore(url) if url.startswith("sqlite:") else PostgresEventStore(url)


def test_expected_version_counts_again_when_a_prune_moves_the_boundary(
    hot_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hot = open_store(hot_url, create=True)
    with PruningStore(hot, open_location(str(tmp_path / "archive"))) as store:
        first = trade()
        store.append(first)
        store.append(trade())  # pruned through 8: sequences 9 and 10 are hot
        correlation = first[0].correlation_id
        lookup = ArchiveReader.lookup
        calls: list[int] = []

        def prune_meanwhile(reader: ArchiveReader, field: str, key: uuid.UUID) -> list[int]:
            # Between counting the archive and appending, another process prunes one more.
            calls.append(store.hot.pruned_through())
            if len(calls) == 1:
                seal(store.hot, store.archive.location, 9, store.key, segment_events=256)
                store.hot.prune(9, next(store.hot.iter_records(9, 9)).hash, None)
            return lookup(reader, field, key)

        monkeypatch.setattr(ArchiveReader, "lookup", prune_meanwhile)
        late = factory("late").create_alert(
            level="INFO", code="late", message="m", correlation_id=correlation
        )
        assert store.append(late, expected_version=5) == [11]
        assert calls == [8, 9]  # counted through 8, refused by the hot store, counted again


def test_a_pruned_store_without_its_archive_refuses_expected_version(
    hot_url: str, tmp_path: Path
) -> None:
    url = hot_url
    with PruningStore(open_store(url, create=True), open_location(str(tmp_path / "a"))) as store:
        first = trade()
        store.append(first)
        store.append(trade())
    with hot_only(url) as hot:  # the hot store alone would count 0 of the 5
        late = factory("late").create_alert(
            level="INFO", code="late", message="m", correlation_id=first[0].correlation_id
        )
        with pytest.raises(
            ArchiveBoundaryError, match=r"sequences 1\.\.8 of this store were moved"
        ):
            hot.append(late, expected_version=0)
        assert hot.head().sequence_number == 10
        assert hot.append(late, expected_sequence=10) == [11]  # the head needs no archive
