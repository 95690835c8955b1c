"""Dead letters: messages that can never be stored, kept with the reason instead of dropped.

An entry of the dead-letter stream holds `reason`, `source_stream`, `source_id`, `consumer`
and every field of the original message under `message.<field>`, byte for byte, so
`retry` can put exactly the original message back on the main stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from claire.errors import NotFoundError

MESSAGE_PREFIX = b"message."


def dead_letter_fields(
    *, source_stream: str, source_id: bytes, fields: dict[bytes, bytes], reason: str, consumer: str
) -> dict[bytes, bytes]:
    entry = {
        b"reason": reason.encode(),
        b"source_stream": source_stream.encode(),
        b"source_id": source_id,
        b"consumer": consumer.encode(),
    }
    entry.update({MESSAGE_PREFIX + name: value for name, value in fields.items()})
    return entry


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: str
    reason: str
    source_stream: str
    source_id: str
    consumer: str
    message: dict[bytes, bytes]

    @classmethod
    def of(cls, entry_id: bytes, entry: dict[bytes, bytes]) -> DeadLetter:
        def text(name: bytes) -> str:
            return entry.get(name, b"").decode("utf-8", "replace")

        message = {
            k.removeprefix(MESSAGE_PREFIX): v
            for k, v in entry.items()
            if k.startswith(MESSAGE_PREFIX)
        }
        return cls(
            entry_id.decode(),
            text(b"reason"),
            text(b"source_stream"),
            text(b"source_id"),
            text(b"consumer"),
            message,
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "source_stream": self.source_stream,
            "source_id": self.source_id,
            "consumer": self.consumer,
            "message": {
                k.decode("utf-8", "replace"): v.decode("utf-8", "replace")
                for k, v in sorted(self.message.items())
            },
        }


def list_dead_letters(
    client: redis.Redis[bytes], dead_stream: str, *, count: int = 100, start: str = "-"
) -> list[DeadLetter]:
    """The oldest `count` dead letters from `start` (a dead-letter id, inclusive)."""
    entries = client.xrange(dead_stream, min=start, max="+", count=count)
    return [DeadLetter.of(entry_id, fields) for entry_id, fields in entries]


def count_dead_letters(client: redis.Redis[bytes], dead_stream: str) -> int:
    return int(client.xlen(dead_stream))


def retry_dead_letters(
    client: redis.Redis[bytes], dead_stream: str, stream: str, ids: list[str] | None = None
) -> list[tuple[str, str]]:
    """Put dead letters back on `stream` (all, or the given ids) and remove them from the
    dead-letter stream, each in one MULTI so a letter is never both lost and kept.

    Returns (dead-letter id, new message id) pairs. A letter that fails again comes back with
    its new reason.
    """
    letters = _select(client, dead_stream, ids)
    moved: list[tuple[str, str]] = []
    for letter in letters:
        if not letter.message:
            continue
        pipe = client.pipeline(transaction=True)
        pipe.xadd(stream, letter.message)
        pipe.xdel(dead_stream, letter.id)
        new_id, _ = pipe.execute()
        moved.append((letter.id, new_id.decode() if isinstance(new_id, bytes) else str(new_id)))
    return moved


def _select(
    client: redis.Redis[bytes], dead_stream: str, ids: list[str] | None
) -> list[DeadLetter]:
    if ids is None:
        letters: list[DeadLetter] = []
        start = "-"
        while True:
            page = list_dead_letters(client, dead_stream, count=1000, start=start)
            letters.extend(page)
            if len(page) < 1000:
                return letters
            start = "(" + page[-1].id
    chosen = []
    for entry_id in ids:
        found = client.xrange(dead_stream, min=entry_id, max=entry_id)
        if not found:
            raise NotFoundError(f"dead letter {entry_id!r} is not in stream {dead_stream!r}")
        chosen.append(DeadLetter.of(*found[0]))
    return chosen
