"""The EventStore port, its adapters, and the seed's EventWriter / EventReader."""

from claire.errors import ConcurrencyError
from claire.store.facade import EventReader, EventWriter, default_url, open_store
from claire.store.port import ChainRecord, EventStore, Head, TypeStats

__all__ = [
    "ChainRecord",
    "ConcurrencyError",
    "EventReader",
    "EventStore",
    "EventWriter",
    "Head",
    "TypeStats",
    "default_url",
    "open_store",
]
