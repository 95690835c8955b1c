from __future__ import annotations

import pytest

from claire.store import EventStore
from claire.store.memory import MemoryEventStore
from tests.conformance.suite import StoreConformance


class TestMemoryStore(StoreConformance):
    @pytest.fixture
    def store(self) -> EventStore:
        return MemoryEventStore()
