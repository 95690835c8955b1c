"""What the routes need: the store (opened lazily, reopened after an outage), Redis, settings."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from fastapi import Request

from claire.config import Settings
from claire.errors import StoreSchemaError, StoreUnavailableError
from claire.ingest.streams import IngestConfig
from claire.redact import redact_error
from claire.store.facade import open_store
from claire.store.port import EventStore
from claire.supervision import HealthBoard

if TYPE_CHECKING:
    import redis


class _LazyStore:
    """A store opened on first use (so the API starts, and reports 503, while it is down)."""

    def __init__(self, url: str | None, store: EventStore | None = None) -> None:
        self.url = url
        self._store = store
        self.owned = store is None
        self._lock = threading.Lock()

    def get(self) -> EventStore:
        store = self._store
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                try:
                    self._store = open_store(self.url)
                except StoreUnavailableError:
                    raise
                except Exception as exc:
                    raise StoreUnavailableError(
                        f"cannot open the store: {redact_error(exc)}"
                    ) from exc
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None and self.owned:
                self._store.close()
                self._store = None


class Services:
    """Least privilege: appends go through DATABASE_URL (the writer role); reads through
    CLAIRE_READ_DATABASE_URL (the reader role) when it is set."""

    def __init__(
        self,
        settings: Settings,
        store: EventStore | None = None,
        redis_client: redis.Redis[bytes] | None = None,
        health: HealthBoard | None = None,
    ) -> None:
        self.settings = settings
        # The background tasks of this process (claire serve's ingest worker, checkpoints).
        self.health = health or HealthBoard()
        self.ingest = IngestConfig.from_settings(settings)
        self._writer = _LazyStore(settings.database_url, store)
        self._reader = (
            _LazyStore(settings.read_database_url)
            if settings.read_database_url and store is None
            else self._writer
        )
        self.redis = redis_client
        if self.redis is None and settings.redis_url:
            import redis as redis_module

            self.redis = redis_module.Redis.from_url(
                settings.redis_url, socket_connect_timeout=2, socket_timeout=2
            )

    @property
    def store(self) -> EventStore:
        """The store appends go to (the writer's connection)."""
        return self._writer.get()

    @property
    def reader(self) -> EventStore:
        """The store read paths use (the reader's connection, or the writer's when unset)."""
        return self._reader.get()

    def schema_problem(self) -> str | None:
        """Why the read store's schema is not the one this code needs (None when it is, or when
        it cannot be told). Checked afresh each time: someone may have migrated meanwhile."""
        url = self._reader.url
        if url is None or not self._reader.owned:
            return None  # a store handed in by the caller: its schema is the caller's business
        try:
            open_store(url).close()  # opening checks the schema and writes nothing
        except StoreSchemaError as exc:
            return redact_error(exc)
        except Exception:  # unreachable: the store's own check says so
            return None
        return None

    def close(self) -> None:
        self._writer.close()
        if self._reader is not self._writer:
            self._reader.close()
        if self.redis is not None:
            self.redis.close()


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
