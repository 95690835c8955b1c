"""The one canonical encoding of an event, its decoder, and the hash chain.

Canonical bytes: a JSON object with sorted keys and no whitespace; UUIDs as lowercase text,
Decimals as positional text, timestamps as UTC with microseconds and a trailing Z. Every store
keeps these exact bytes, so SQLite, PostgreSQL and memory give the same hashes.
`sequence_number` is not part of them: the store assigns it, and the chain binds the order.

Decoding stored bytes also reads old schema versions: an event whose `metadata.schema_version`
is not its type's current version has its payload upcast (`claire.events.versions`) and checked
against the current model before anyone sees it; a version newer than this code knows is
refused. The stored bytes, and so the hash chain, never change. The check costs one dict and one
set lookup per event (about 40 ns, against 2 µs for the decode): the type to the versions read
as they are (an EventType is a str: it hashes in C).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import orjson
from pydantic import ValidationError

from claire.errors import EventValidationError, StoreError
from claire.events import validation
from claire.events.model import BaseEvent, remember_stored_version, remember_typed
from claire.events.payloads import PAYLOAD_MODELS, EventType, payload_json
from claire.events.values import format_utc
from claire.events.versioning import SchemaVersionError, SchemaVersions
from claire.events.versions import VERSIONS

GENESIS_HASH = "0" * 64
# The documented limit of one event: its canonical bytes may not exceed 1 MiB. Every store
# refuses a larger event (see `check_event_size`); the ingest entries apply the same figure.
MAX_EVENT_BYTES = 1024 * 1024


def canonical_document(event: BaseEvent) -> dict[str, Any]:
    return {
        "causation_id": str(event.causation_id) if event.causation_id else None,
        "correlation_id": str(event.correlation_id),
        "event_id": str(event.event_id),
        "event_type": event.event_type.value,
        "metadata": event.metadata.document,
        "payload": event.payload,
        "timestamp_logical": event.timestamp_logical,
        "timestamp_utc": format_utc(event.timestamp_utc),
    }


def encode_document(document: dict[str, Any]) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def canonical_bytes(event: BaseEvent) -> bytes:
    return encode_document(canonical_document(event))


def check_event_size(data: bytes, where: str = "event") -> None:
    """Refuse canonical bytes above MAX_EVENT_BYTES, naming the size and the limit."""
    if len(data) > MAX_EVENT_BYTES:
        raise EventValidationError(
            [
                (
                    where,
                    f"{len(data)} bytes of canonical JSON exceed the limit of "
                    f"{MAX_EVENT_BYTES} bytes (1 MiB)",
                )
            ]
        )


_DECODER = msgspec.json.Decoder(BaseEvent)
_number = msgspec.structs.force_setattr  # the store's sequence number, set before anyone sees it


def _read_as_is(versions: SchemaVersions) -> dict[EventType, frozenset[int | None]]:
    """Per type, the `metadata.schema_version` values whose payload is read as stored: the
    current version, and None (nothing recorded) when that means the current version."""
    return {
        kind: frozenset(
            {versions.current[kind]} | ({None} if versions.reads_as_is(kind, None) else set())
        )
        for kind in versions.current
    }


_AS_IS = _read_as_is(VERSIONS)


def upcast_event(
    event: BaseEvent, sequence_number: int | None = None, versions: SchemaVersions = VERSIONS
) -> BaseEvent:
    """A decoded event whose payload is not its type's current version, as the current
    version's: upcast, then checked and normalised by the current payload model. The event
    says the current version in `metadata.schema_version` (its payload is that version's now)
    and keeps the stored one in `stored_schema_version`. SchemaVersionError names the event,
    its type and version when it cannot be read (a version newer than this code knows, or an
    upcaster that fails or gives a payload the current model refuses)."""
    kind, stored = event.event_type, event.metadata.schema_version
    if versions.reads_as_is(kind, stored):
        return event
    where = f"the stored event {event.event_id}" + (
        f" at sequence {sequence_number}" if sequence_number is not None else ""
    )
    try:
        payload = versions.upcast(kind, stored, event.payload)
    except SchemaVersionError as exc:
        raise SchemaVersionError(f"{where}: {exc}") from None
    except Exception as exc:  # an upcaster is code of its own: name the event it failed on
        raise SchemaVersionError(
            f"{where}: {kind.value} of schema version {versions.recorded(kind, stored)} could "
            f"not be upcast ({type(exc).__name__}: {exc})"
        ) from None
    try:
        typed = PAYLOAD_MODELS[kind].model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"payload.{f}: {r}" for f, r in validation.problems(exc))
        raise SchemaVersionError(
            f"{where}: {kind.value} of schema version {versions.recorded(kind, stored)}, upcast "
            f"to version {versions.current[kind]}, is not a valid payload ({problems})"
        ) from None
    metadata = msgspec.structs.replace(event.metadata, schema_version=versions.current[kind])
    upcast = msgspec.structs.replace(event, payload=payload_json(typed), metadata=metadata)
    remember_typed(upcast, typed)
    remember_stored_version(upcast, stored)
    return upcast


def decode_event(data: bytes | str, sequence_number: int | None = None) -> BaseEvent:
    """Decode canonical bytes that came from our own store (trusted, hash-checked), an old
    schema version upcast to the current one."""
    try:
        event = _DECODER.decode(data)
    except msgspec.MsgspecError as exc:
        raise StoreError(_undecodable(sequence_number, exc)) from None
    if sequence_number is not None:
        _number(event, "sequence_number", sequence_number)
    if event.metadata.schema_version not in _AS_IS[event.event_type]:
        event = upcast_event(event, sequence_number)
    return event


def decode_rows(rows: Iterable[tuple[int, bytes]]) -> Iterator[BaseEvent]:
    """Decode stored (sequence number, canonical bytes) rows one by one, as they are consumed,
    old schema versions upcast to the current ones.

    Decoding as the caller iterates (not a page ahead) keeps few events alive at a time, so
    the garbage collector has little to scan and nothing process-wide needs switching off.
    """
    decode, number, as_is = _DECODER.decode, _number, _AS_IS
    sequence = None
    try:
        for sequence, data in rows:
            event = decode(data)
            number(event, "sequence_number", sequence)
            if event.metadata.schema_version not in as_is[event.event_type]:
                event = upcast_event(event, sequence)
            yield event
    except msgspec.MsgspecError as exc:
        raise StoreError(_undecodable(sequence, exc)) from None


def _undecodable(sequence_number: int | None, exc: Exception) -> str:
    where = f"at sequence {sequence_number}" if sequence_number is not None else "given"
    return f"the stored event {where} is not a canonical event ({exc})"


def event_from_document(doc: dict[str, Any], sequence_number: int | None = None) -> BaseEvent:
    """Rebuild an event from a canonical document without validating it (tests forge with it)."""
    return decode_event(encode_document(doc), sequence_number)


# Every byte to "0" if it is an ASCII digit, else to " ": finding 19 digits in a row is then a
# substring search in C (1.4 µs for a usual event, against 8.9 µs for a regex scan).
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = b"0" * 19


def has_long_digit_run(data: bytes) -> bool:
    """Whether `data` holds 19 ASCII digits in a row (an integer literal that may pass 64 bits)."""
    return _LONG_DIGIT_RUN in data.translate(_DIGITS_ONLY)


def load_json(data: bytes | str, where: str = "event") -> Any:
    """JSON from outside, integers exact; EventValidationError names `where` when it is not JSON.

    orjson reads an integer literal beyond 64 bits as a float, so 2**64 would be stored as
    "18446744073709552000", a changed value validation never saw. Such a literal has at least 19
    digits, which an ordinary event never holds outside a string, so only then is the document
    read again by the standard-library parser, which keeps integers exact (and validation then
    refuses them by name). orjson still reads it first, so what counts as valid JSON (no NaN,
    strict UTF-8) does not change.
    """
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EventValidationError([(where, f"not valid JSON ({exc})")]) from None
    raw = data.encode() if isinstance(data, str) else data
    if not has_long_digit_run(raw):
        return document
    try:
        return json.loads(raw)
    except RecursionError:  # orjson allows 1024 levels, the stdlib a little less
        raise EventValidationError([(where, "not valid JSON (nested too deeply)")]) from None


def parse_event_json(data: bytes | str) -> BaseEvent:
    """Decode and validate JSON from outside (a producer, an HTTP client, a stream message)."""
    doc = load_json(data, "event")
    if not isinstance(doc, dict):
        raise EventValidationError([("event", "expected a JSON object")])
    return BaseEvent.parse(doc)


def same_stored_event(stored: bytes, new: bytes) -> bool:
    """Whether `new` canonical bytes are a repeat of the `stored` ones (an idempotent append).

    Byte-equal, or the stored event was written before versions were recorded and `new` is the
    same event recording the version such events are read as: a retry or a redelivery that
    spans the upgrade (the door now records the version) is the same event, not a conflict.
    """
    if stored == new:
        return True
    if b'"schema_version":' in stored:
        return False
    try:
        before, after = orjson.loads(stored), orjson.loads(new)
        metadata = dict(after["metadata"])
        version = metadata.pop("schema_version", None)
        kind = EventType(after["event_type"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return False
    if version is None or version != VERSIONS.unversioned(kind):
        return False
    return bool(before == {**after, "metadata": metadata})


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """hash = SHA-256(prev_hash as 32 raw bytes || canonical bytes), as lowercase hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def content_hash(document: Any) -> str:
    """SHA-256 of any JSON-native document in canonical form (state hashes, config hashes)."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
