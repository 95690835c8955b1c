from __future__ import annotations

from collections.abc import Iterator

import pytest

from claire.store import EventStore, open_store
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance
from tests.conformance.versions_suite import SchemaVersionConformance


class TestPostgresStore(StoreConformance, TimelineConformance, SchemaVersionConformance):
    @pytest.fixture
    def store(self, pg_url: str) -> Iterator[EventStore]:
        with open_store(pg_url, create=True) as store:
            yield store
