"""The conformance suite against the archive-aware store: all but the last events of every test
are sealed into Parquet segments and served from there (see tests/archive_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from claire.archive.location import open_location
from claire.archive.reader import ArchiveReader
from claire.archive.store import ArchivedEventStore
from claire.store import EventStore
from tests.archive_support import SealingStore
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance
from tests.conformance.versions_suite import SchemaVersionConformance


class TestArchivedStore(StoreConformance, TimelineConformance, SchemaVersionConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[EventStore]:
        location = open_location(str(tmp_path / "archive"))
        hot = SealingStore(location, Ed25519PrivateKey.generate())
        with ArchivedEventStore(hot, ArchiveReader(location)) as store:
            yield store
