"""Ingestion: producers publish events to a Redis Stream; the worker stores them losslessly."""

from claire.ingest.publisher import EventPublisher
from claire.ingest.streams import (
    DEFAULT_CHANNEL,
    DEFAULT_GROUP,
    DEFAULT_STREAM,
    MAX_EVENT_BYTES,
    IngestConfig,
    PublishError,
)
from claire.ingest.worker import IngestWorker

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_GROUP",
    "DEFAULT_STREAM",
    "MAX_EVENT_BYTES",
    "EventPublisher",
    "IngestConfig",
    "IngestWorker",
    "PublishError",
]
