"""BaseEvent: the seed's event structure, validated at the door and immutable after it.

An event is a frozen msgspec Struct. Everything that arrives from outside is validated by the
pydantic models in `claire.events.validation` first (`BaseEvent.parse`, the factory, POST
/events, the stream); the Struct itself is what the store, the readers and replay hand around.
Reading a stored event is then one typed msgspec decode of its canonical bytes (ids, time and
type parsed in C) and nothing else: those bytes were validated before they were stored and
the hash chain vouches for them since. Building a pydantic model per event cost several times
the fetch of the row.

The events are created without the cyclic garbage collector tracking them (`gc=False`): an
event holds ids, text, a timestamp and JSON data, nothing that refers back to it, and a bulk
read keeps many alive at once, which the collector would otherwise rescan again and again.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from pydantic import ValidationError

from claire.errors import EventValidationError
from claire.events import validation
from claire.events.payloads import PAYLOAD_MODELS, EventType, Payload


class EventMetadata(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """Who produced an event: service, version, environment, and what configured it; and the
    schema version of its payload (`claire.events.versions`), which every event written by
    this Claire records. None on an event stored before versions were recorded (its version
    is then the type's `unversioned` one). An event read from a store keeps the version it
    was recorded with, while its payload is always the current version's (upcast on read)."""

    service: str
    version: str
    environment: str = "development"
    code_version: str | None = None
    config_hash: str | None = None
    schema_version: int | None = None

    @property
    def document(self) -> dict[str, Any]:
        """The stored JSON form (fields that are None left out)."""
        document: dict[str, Any] = {
            "service": self.service,
            "version": self.version,
            "environment": self.environment,
        }
        if self.code_version is not None:
            document["code_version"] = self.code_version
        if self.config_hash is not None:
            document["config_hash"] = self.config_hash
        if self.schema_version is not None:
            document["schema_version"] = self.schema_version
        return document

    @classmethod
    def checked(cls, metadata: validation.EventMetadata) -> EventMetadata:
        return cls(**metadata.model_dump())


class _TypedPayloadSlot:
    """Room beside the Struct's fields for the payload's typed model, built on first use, and
    for the schema version an upcast event was stored with.

    Not fields: they are neither encoded nor compared, and a frozen Struct still lets the
    slots' own descriptors fill them.
    """

    __slots__ = ("_stored_version", "_typed")


_TYPED: Any = _TypedPayloadSlot.__dict__["_typed"]
_STORED_VERSION: Any = _TypedPayloadSlot.__dict__["_stored_version"]


def remember_typed(event: BaseEvent, typed: Payload) -> None:
    """Keep an already validated typed payload with its event (the factory has one)."""
    _TYPED.__set__(event, typed)


def remember_stored_version(event: BaseEvent, version: int | None) -> None:
    """Keep, with an event upcast on read, the schema version its stored bytes record."""
    _STORED_VERSION.__set__(event, version)


class BaseEvent(_TypedPayloadSlot, msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """One immutable fact. `payload` holds the JSON form of the type's payload model
    (Decimals as text); `data` is that payload typed (Decimals, enums).

    Construct events with `EventFactory` or `BaseEvent.parse`: the constructor itself does not
    validate (like pydantic's `model_construct`).
    """

    event_id: UUID
    event_type: EventType
    sequence_number: int | None = None
    timestamp_utc: datetime
    timestamp_logical: int
    causation_id: UUID | None = None
    correlation_id: UUID
    metadata: EventMetadata
    payload: dict[str, Any]

    @property
    def data(self) -> Payload:
        """The payload as its typed model (Decimals, enums), parsed once on first use."""
        typed = self.cached_data()
        if typed is None:
            typed = PAYLOAD_MODELS[self.event_type].model_validate(self.payload)
            remember_typed(self, typed)
        return typed

    def cached_data(self) -> Payload | None:
        """The typed payload if it is built already (by the factory, or `data` before)."""
        typed: Payload | None = getattr(self, "_typed", None)
        return typed

    @property
    def stored_schema_version(self) -> int | None:
        """The schema version the stored event records (None: none). It differs from
        `metadata.schema_version` only for an event upcast on read: its payload, and so its
        metadata, are then the current version's."""
        stored: int | None = getattr(self, "_stored_version", self.metadata.schema_version)
        return stored

    def with_sequence(self, sequence_number: int) -> BaseEvent:
        numbered = msgspec.structs.replace(self, sequence_number=sequence_number)
        typed = self.cached_data()
        if typed is not None:
            remember_typed(numbered, typed)
        if hasattr(self, "_stored_version"):
            remember_stored_version(numbered, self.stored_schema_version)
        return numbered

    @classmethod
    def parse(cls, data: Any) -> BaseEvent:
        """Validate untrusted input; raise EventValidationError naming each bad field."""
        try:
            checked = validation.BaseEvent.model_validate(data)
        except ValidationError as exc:
            raise EventValidationError(validation.problems(exc)) from None
        return cls.checked(checked)

    @classmethod
    def checked(cls, event: validation.BaseEvent) -> BaseEvent:
        """The immutable event of one that passed validation."""
        return cls(
            event_id=event.event_id,
            event_type=event.event_type,
            sequence_number=event.sequence_number,
            timestamp_utc=event.timestamp_utc,
            timestamp_logical=event.timestamp_logical,
            causation_id=event.causation_id,
            correlation_id=event.correlation_id,
            metadata=EventMetadata.checked(event.metadata),
            payload=event.payload,
        )

    # --- the names of the former pydantic model, kept for code written against it ----------
    @classmethod
    def model_validate(cls, obj: Any) -> BaseEvent:
        """Validate like `parse`, but raise pydantic's ValidationError."""
        return cls.checked(validation.BaseEvent.model_validate(obj))

    @classmethod
    def model_json_schema(cls, **options: Any) -> dict[str, Any]:
        """The JSON Schema of an event as it arrives (see `claire.events.validation`)."""
        return validation.BaseEvent.model_json_schema(**options)

    def model_dump(self, **options: Any) -> dict[str, Any]:
        """A dict of the fields, as pydantic's `model_dump` (mode="json": the JSON form)."""
        fields = msgspec.structs.asdict(self)
        fields["metadata"] = validation.EventMetadata.model_construct(
            **msgspec.structs.asdict(self.metadata)
        )
        return validation.BaseEvent.model_construct(**fields).model_dump(**options)

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> BaseEvent:
        """A copy with some fields replaced, not validated (as pydantic's `model_copy`)."""
        changed = msgspec.structs.replace(self, **(update or {}))
        return copy.deepcopy(changed) if deep else changed
