from __future__ import annotations

import pytest

from claire.store import EventStore
from claire.store.memory import MemoryEventStore
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance
from tests.conformance.versions_suite import SchemaVersionConformance


class TestMemoryStore(StoreConformance, TimelineConformance, SchemaVersionConformance):
    @pytest.fixture
    def store(self) -> EventStore:
        return MemoryEventStore()
