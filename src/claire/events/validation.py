"""The door: pydantic models that validate an event from outside and describe its JSON Schema.

Everything that creates an event from data it did not make itself passes through here:
`BaseEvent.parse` (POST /events, the Redis stream, the Pub/Sub bridge) and the factory's
metadata. Once validated, an event becomes the immutable `claire.events.model.BaseEvent` that
the rest of the system hands around. The classes keep the names of the events they describe, so
the published JSON Schema and OpenAPI documents name them `BaseEvent` and `EventMetadata`.
"""

from __future__ import annotations

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

from claire.events.payloads import PAYLOAD_MODELS, EventType, payload_json
from claire.events.values import AS_JSON_INTEGER, UtcDatetime, check_text
from claire.events.versions import CURRENT_VERSIONS


class EventMetadata(BaseModel):
    """Who produced an event: service, version, environment, and what configured it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str = Field(min_length=1, max_length=100)
    version: str = Field(min_length=1, max_length=100)
    environment: str = Field(default="development", max_length=100)
    code_version: str | None = Field(default=None, max_length=100)
    config_hash: str | None = Field(default=None, max_length=100)
    schema_version: Annotated[StrictInt, Field(ge=1), AS_JSON_INTEGER] | None = Field(
        default=None,
        description="The schema version of the payload. Events are written in the current "
        "version of their type, which is recorded here when left out (see docs/versions.md).",
    )

    @field_validator("*")
    @classmethod
    def _no_control_text(cls, value: Any) -> Any:
        return check_text(value, "metadata") if isinstance(value, str) else value


class BaseEvent(BaseModel):
    """One immutable fact. `payload` holds the JSON form of the type's payload model."""

    # (The docstring above is the schema's description; validation normalises `payload`.)

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
            nested = [(f"payload.{field}", reason) for field, reason in problems(exc)]
            raise ValueError(_PROBLEM_SEPARATOR.join(f"{f}: {r}" for f, r in nested)) from None
        # Store the normalised JSON form so equal events encode to equal bytes.
        object.__setattr__(self, "payload", payload_json(typed))
        # The payload was checked against the current version: the event records that version.
        current = CURRENT_VERSIONS[self.event_type]
        if self.metadata.schema_version is None:
            stamped = self.metadata.model_copy(update={"schema_version": current})
            object.__setattr__(self, "metadata", stamped)
        elif self.metadata.schema_version != current:
            raise ValueError(
                f"metadata.schema_version: {self.event_type.value} events are written in their "
                f"current schema version {current}, not {self.metadata.schema_version} "
                "(leave it out to have it recorded)"
            )
        if self.causation_id is not None and self.causation_id == self.event_id:
            raise ValueError("causation_id: an event cannot cause itself")
        return self


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "event"


_PROBLEM_SEPARATOR = "\n"


def problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, reason) for each error pydantic found, fields named as the input names them."""
    found = []
    for err in exc.errors(include_url=False):
        message = str(err["msg"]).removeprefix("Value error, ")
        field = _location(tuple(err["loc"]))
        if field != "event":
            found.append((field, message))
            continue
        # Whole-event checks report "field: reason" lines of their own.
        for line in message.split(_PROBLEM_SEPARATOR):
            where, _, reason = line.partition(": ")
            found.append((where, reason) if reason else ("event", line))
    return found
