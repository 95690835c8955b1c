"""Claire: event sourcing and deterministic replay for an algorithmic trading bot."""

from claire.errors import ConcurrencyError
from claire.events import (
    BaseEvent,
    EventFactory,
    EventMetadata,
    EventType,
    LogicalClock,
    Side,
    get_clock,
)
from claire.replay import ReplayEngine, ReplayMode, no_replay
from claire.store import EventReader, EventStore, EventWriter, open_store

__version__ = "0.1.0"

__all__ = [
    "BaseEvent",
    "ConcurrencyError",
    "EventFactory",
    "EventMetadata",
    "EventReader",
    "EventStore",
    "EventType",
    "EventWriter",
    "LogicalClock",
    "ReplayEngine",
    "ReplayMode",
    "Side",
    "__version__",
    "get_clock",
    "no_replay",
    "open_store",
]
