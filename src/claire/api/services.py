"""What the routes need: the store (opened lazily, reopened after an outage), Redis, settings."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from fastapi import Request

from claire.config import Settings
from claire.errors import StoreUnavailableError
from claire.ingest.streams import IngestConfig
from claire.store.facade import open_store
from claire.store.port import EventStore

if TYPE_CHECKING:
    import redis


class Services:
    def __init__(
        self,
        settings: Settings,
        store: EventStore | None = None,
        redis_client: redis.Redis[bytes] | None = None,
    ) -> None:
        self.settings = settings
        self.ingest = IngestConfig.from_settings(settings)
        self._store = store
        self._owns_store = store is None
        self._lock = threading.Lock()
        self.redis = redis_client
        if self.redis is None and settings.redis_url:
            import redis as redis_module

            self.redis = redis_module.Redis.from_url(
                settings.redis_url, socket_connect_timeout=2, socket_timeout=2
            )

    @property
    def store(self) -> EventStore:
        """The store; opened on first use so the API starts (and reports 503) while it is down."""
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                try:
                    self._store = open_store(self.settings.database_url)
                except StoreUnavailableError:
                    raise
                except Exception as exc:
                    raise StoreUnavailableError(f"cannot open the store: {exc}") from exc
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self._owns_store:
                self._store.close()
                self._store = None
        if self.redis is not None:
            self.redis.close()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
