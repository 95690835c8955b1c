from __future__ import annotations

import pytest

from claire.store import EventStore
from claire.store.memory import MemoryEventStore
from tests.conformance.suite import StoreConformance
from tests.conformance.timeline_suite import TimelineConformance


class TestMemoryStore(StoreConformance, TimelineConformance):
    @pytest.fixture
    def store(self) -> EventStore:
        return MemoryEventStore()
