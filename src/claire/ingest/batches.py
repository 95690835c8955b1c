"""A batch of stream messages on its way to the store: validated, then stored, dead-lettered or
left waiting for its cause, message by message.

`validate_message` is the one place where a message's event is checked before the store sees
it; whatever it raises (EventValidationError) makes that message a dead letter.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from claire.errors import EventValidationError
from claire.events.model import BaseEvent
from claire.ingest.admission import refuse_untrusted
from claire.ingest.streams import EventTooLargeError, Message, decode_message


@dataclass(frozen=True, slots=True)
class Item:
    """A message whose event passed validation."""

    message_id: bytes
    fields: dict[bytes, bytes]
    event: BaseEvent


@dataclass(frozen=True, slots=True)
class DeadItem:
    message_id: bytes
    fields: dict[bytes, bytes]
    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch read and validated, ready to commit: its valid events, the messages that are
    dead letters already, and the ids of entries deleted from the stream while pending."""

    items: list[Item]
    dead: list[DeadItem]
    gone: list[bytes]


@dataclass(slots=True)
class Outcome:
    stored: list[Item] = field(default_factory=list)
    dead: list[DeadItem] = field(default_factory=list)
    waiting: list[Item] = field(default_factory=list)

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.stored + other.stored, self.dead + other.dead, self.waiting + other.waiting
        )


def validate_message(
    fields: dict[bytes, bytes], trusted: Collection[str] = frozenset()
) -> BaseEvent:
    """The event a message carries, if it may be stored; EventValidationError says why not
    (`trusted`: the services whose snapshots are accepted, see claire.ingest.admission)."""
    event = decode_message(fields)
    refuse_untrusted([event], trusted)
    return event


def prepare(messages: list[Message], trusted: Collection[str] = frozenset()) -> Prepared:
    """Validate each message's event (no store or Redis access: runs beside a commit)."""
    items: list[Item] = []
    dead: list[DeadItem] = []
    gone: list[bytes] = []
    for message_id, fields in messages:
        if not fields:  # deleted from the stream while pending: nothing left to store
            gone.append(message_id)
            continue
        try:
            items.append(Item(message_id, fields, validate_message(fields, trusted)))
        except EventValidationError as exc:
            kind = "too_large" if isinstance(exc, EventTooLargeError) else "invalid"
            dead.append(DeadItem(message_id, fields, f"invalid event: {exc}", kind))
    return Prepared(items, dead, gone)
