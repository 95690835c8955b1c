"""EventFactory: the one way producers create events (the seed's integration API)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
from pydantic import ValidationError

from claire.errors import EventValidationError
from claire.events import validation
from claire.events.clock import LogicalClock, get_clock
from claire.events.model import BaseEvent, EventMetadata, remember_typed
from claire.events.payloads import (
    PAYLOAD_MODELS,
    EventType,
    Payload,
    payload_json,
)
from claire.events.values import to_utc
from claire.events.versions import CURRENT_VERSIONS

IdLike = UUID | str


class _RandomIds:
    """uuid4() reads the kernel's random source once per id, a syscall that costs ~10 µs on
    a virtual machine; reading 4 KiB at a time gives the same random ids far cheaper."""

    _CHUNK = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._offset = 0
        # A forked child must never hand out the ids left in its parent's buffer.
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._buffer, self._offset = b"", 0

    def __call__(self) -> UUID:
        with self._lock:
            if self._offset >= len(self._buffer):
                self._buffer, self._offset = os.urandom(self._CHUNK), 0
            raw = self._buffer[self._offset : self._offset + 16]
            self._offset += 16
        return UUID(bytes=raw, version=4)


random_event_id = _RandomIds()


def wall_clock() -> datetime:
    """Human time for live producers; replay and the pipeline pass their own `now`."""
    return datetime.now(UTC)


def _uuid(value: IdLike | None, field: str) -> UUID | None:
    if value is None or isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise EventValidationError([(field, f"{value!r} is not a UUID")]) from None


def _creator(kind: EventType) -> Callable[..., BaseEvent]:
    """The seed's `create_<type>(..., correlation_id=..., causation_id=...)` for one type."""

    def create(
        factory: EventFactory,
        /,
        *,
        correlation_id: IdLike,
        causation_id: IdLike | None = None,
        timestamp_utc: datetime | None = None,
        **fields: Any,
    ) -> BaseEvent:
        return factory.create(
            kind,
            fields,
            correlation_id=correlation_id,
            causation_id=causation_id,
            timestamp_utc=timestamp_utc,
        )

    create.__name__ = f"create_{kind.value.removesuffix('_generated')}"
    create.__doc__ = (
        f"Create a `{kind.value}` event: payload fields as keyword arguments "
        f"(see {PAYLOAD_MODELS[kind].__name__})."
    )
    return create


class EventFactory:
    """Creates validated events stamped with this service's metadata and logical clock."""

    def __init__(
        self,
        service_name: str,
        version: str,
        environment: str = "development",
        *,
        code_version: str | None = None,
        config_hash: str | None = None,
        clock: LogicalClock | None = None,
        now: Callable[[], datetime] = wall_clock,
        new_id: Callable[[], UUID] = random_event_id,
    ) -> None:
        try:
            checked = validation.EventMetadata(
                service=service_name,
                version=version,
                environment=environment,
                code_version=code_version,
                config_hash=config_hash,
            )
        except ValidationError as exc:
            raise EventValidationError(validation.problems(exc)) from None
        self.metadata = EventMetadata.checked(checked)
        # Every event records the schema version of its payload: one metadata per type, shared
        # by the type's events (the stores encode a shared metadata once).
        self._metadata = {
            kind: msgspec.structs.replace(self.metadata, schema_version=version)
            for kind, version in CURRENT_VERSIONS.items()
        }
        self.clock = clock or get_clock()
        self.now = now
        self.new_id = new_id

    def create(
        self,
        event_type: EventType | str,
        payload: Payload | Mapping[str, Any],
        *,
        correlation_id: IdLike,
        causation_id: IdLike | None = None,
        timestamp_utc: datetime | None = None,
    ) -> BaseEvent:
        try:
            kind = EventType(event_type)
        except ValueError:
            raise EventValidationError([("event_type", f"unknown type {event_type!r}")]) from None
        model = PAYLOAD_MODELS[kind]
        if not isinstance(payload, model):
            try:
                payload = model.model_validate(dict(payload))
            except ValidationError as exc:
                raise EventValidationError(
                    [(f"payload.{f}", r) for f, r in validation.problems(exc)]
                ) from None
        correlation = _uuid(correlation_id, "correlation_id")
        if correlation is None:
            raise EventValidationError([("correlation_id", "is required")])
        try:
            when = to_utc(timestamp_utc if timestamp_utc is not None else self.now())
        except ValueError as exc:
            raise EventValidationError([("timestamp_utc", str(exc))]) from None
        event_id = self.new_id()
        causation = _uuid(causation_id, "causation_id")
        if causation == event_id:
            raise EventValidationError([("causation_id", "an event cannot cause itself")])
        # Every part is validated above, so the envelope is assembled without a second pass.
        event = BaseEvent(
            event_id=event_id,
            event_type=kind,
            timestamp_utc=when,
            timestamp_logical=self.clock.next(),
            causation_id=causation,
            correlation_id=correlation,
            metadata=self._metadata[kind],
            payload=payload_json(payload),
        )
        remember_typed(event, payload)
        return event

    create_market_data = _creator(EventType.MARKET_DATA)
    create_signal = _creator(EventType.SIGNAL_GENERATED)
    create_risk_decision = _creator(EventType.RISK_DECISION)
    create_order_request = _creator(EventType.ORDER_REQUEST)
    create_order_result = _creator(EventType.ORDER_RESULT)
    create_position_update = _creator(EventType.POSITION_UPDATE)
    create_alert = _creator(EventType.ALERT)
    create_state_snapshot = _creator(EventType.STATE_SNAPSHOT)
