"""BaseEvent: the seed's event structure, validated at the door."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from claire.errors import EventValidationError
from claire.events.payloads import PAYLOAD_MODELS, EventType, Payload, payload_json
from claire.events.values import AS_JSON_INTEGER, UtcDatetime, check_text, construct_trusted


class EventMetadata(BaseModel):
    """Who produced an event: service, version, environment, and what configured it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=100)
    environment: str = Field(default="development", max_length=100)
    code_version: str | None = Field(default=None, max_length=100)
    config_hash: str | None = Field(default=None, max_length=100)

    @field_validator("*")
    @classmethod
    def _no_control_text(cls, value: Any) -> Any:
        return check_text(value, "metadata") if isinstance(value, str) else value

    @cached_property
    def document(self) -> dict[str, Any]:
        """The stored JSON form (fields that are None left out). Shared: do not mutate."""
        return self.model_dump(mode="json", exclude_none=True)


class BaseEvent(BaseModel):
    """One immutable fact. `payload` holds the JSON form of the type's payload model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID
    event_type: EventType
    sequence_number: Annotated[StrictInt, Field(ge=1), AS_JSON_INTEGER] | None = None
    timestamp_utc: UtcDatetime
    timestamp_logical: Annotated[StrictInt, Field(ge=0, le=2**63 - 1), AS_JSON_INTEGER]
    causation_id: UUID | None = None
    correlation_id: UUID
    metadata: EventMetadata
    payload: dict[str, Any]

    @model_validator(mode="after")
    def _payload_matches_type(self) -> BaseEvent:
        model = PAYLOAD_MODELS[self.event_type]
        try:
            typed = model.model_validate(self.payload)
        except ValidationError as exc:
            nested = [(f"payload.{field}", reason) for field, reason in _problems(exc)]
            raise ValueError(_PROBLEM_SEPARATOR.join(f"{f}: {r}" for f, r in nested)) from None
        # Store the normalised JSON form so equal events encode to equal bytes.
        object.__setattr__(self, "payload", payload_json(typed))
        if self.causation_id is not None and self.causation_id == self.event_id:
            raise ValueError("causation_id: an event cannot cause itself")
        return self

    @cached_property
    def data(self) -> Payload:
        """The payload as its typed model (Decimals, enums), parsed once on first use."""
        return PAYLOAD_MODELS[self.event_type].model_validate(self.payload)

    def with_sequence(self, sequence_number: int) -> BaseEvent:
        return self.model_copy(update={"sequence_number": sequence_number})

    @classmethod
    def parse(cls, data: dict[str, Any]) -> BaseEvent:
        """Validate untrusted input; raise EventValidationError naming each bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise EventValidationError(_problems(exc)) from None


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "event"


_PROBLEM_SEPARATOR = "\n"


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        field = _location(tuple(err["loc"]))
        if field != "event":
            problems.append((field, message))
            continue
        # Whole-event checks report "field: reason" lines of their own.
        for line in message.split(_PROBLEM_SEPARATOR):
            where, _, reason = line.partition(": ")
            problems.append((where, reason) if reason else ("event", line))
    return problems


_FIELDS_SET = frozenset(BaseEvent.model_fields)
_METADATA_FIELDS = frozenset(EventMetadata.model_fields)
_metadata_cache: dict[tuple[tuple[str, Any], ...], EventMetadata] = {}


def stored_metadata(values: dict[str, Any]) -> EventMetadata:
    """Metadata repeats across a service's events: build each distinct one once."""
    key = tuple(values.items())
    found = _metadata_cache.get(key)
    if found is None:
        if len(_metadata_cache) > 4096:
            _metadata_cache.clear()
        full = {name: values.get(name) for name in EventMetadata.model_fields}
        found = _metadata_cache[key] = construct_trusted(EventMetadata, full, _METADATA_FIELDS)
    return found


def construct_event(values: dict[str, Any]) -> BaseEvent:
    """An event from parts that were each validated already (all nine fields given)."""
    return construct_trusted(BaseEvent, values, _FIELDS_SET)


def stored_event(
    *,
    event_id: UUID,
    event_type: EventType,
    sequence_number: int | None,
    timestamp_utc: datetime,
    timestamp_logical: int,
    causation_id: UUID | None,
    correlation_id: UUID,
    metadata: dict[str, Any],
    payload: dict[str, Any],
) -> BaseEvent:
    """Build an event from trusted storage without re-validating it (the hash chain vouches)."""
    return construct_trusted(
        BaseEvent,
        {
            "event_id": event_id,
            "event_type": event_type,
            "sequence_number": sequence_number,
            "timestamp_utc": timestamp_utc,
            "timestamp_logical": timestamp_logical,
            "causation_id": causation_id,
            "correlation_id": correlation_id,
            "metadata": stored_metadata(metadata),
            "payload": payload,
        },
        _FIELDS_SET,
    )
