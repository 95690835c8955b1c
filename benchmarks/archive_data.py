"""Realistic chained rows in bulk, for the archive benchmark.

One demo day is recorded once through the real pipeline (a memory store); its canonical rows
are the templates. Replica k of the day is the same day k days later: every UUID in it XOR-ed
with a per-replica mask (so causation and correlation stay consistent), every timestamp moved
k days on, logical times and snapshot positions moved with the sequence, chained after the
previous replica. A valid log of any length at a few microseconds an event, where recording
it through the pipeline would cost a hundred.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

from claire.events.codec import GENESIS_HASH
from claire.pipeline import record_demo
from claire.store import open_store

ROWS_PER_CHUNK = 16_384
# The variable parts of a canonical document: UUIDs, UTC timestamps (their date), and the
# integers that count along the sequence.
VARIABLE = re.compile(
    rb"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    rb"|(?P<date>\d{4}-\d{2}-\d{2})T\d{2}:\d{2}"
    rb"|\"(?:timestamp_logical|at_sequence)\":(?P<count>\d+)"
)


@dataclass(slots=True)
class RawRows:
    """Rows as the stores keep them: sequence, canonical bytes, prev_hash, hash (hex)."""

    sequence: list[int] = field(default_factory=list)
    canonical: list[bytes] = field(default_factory=list)
    prev_hash: list[str] = field(default_factory=list)
    hash: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Template:
    """A canonical document cut around its variable parts: literal, (kind, value), literal..."""

    literals: list[bytes]
    slots: list[tuple[str, bytes]]


def demo_templates() -> list[Template]:
    """One recorded demo day, cut into templates."""
    with open_store("memory://bench-archive-templates") as store:
        record_demo(store)
        return [_cut(r.canonical) for r in store.iter_records()]


def _cut(data: bytes) -> Template:
    literals: list[bytes] = []
    slots: list[tuple[str, bytes]] = []
    at = 0
    for match in VARIABLE.finditer(data):
        kind = match.lastgroup or ""
        start, end = match.span(kind)
        literals.append(data[at:start])
        slots.append((kind, data[start:end]))
        at = end
    literals.append(data[at:])
    return Template(literals, slots)


class Replica:
    """The substitutions of replica k: ids, dates and counts moved on."""

    def __init__(self, k: int, mask: int, per_day: int) -> None:
        self.mask = mask
        self.days = timedelta(days=k)
        self.offset = k * per_day
        self.ids: dict[bytes, bytes] = {}
        self.dates: dict[bytes, bytes] = {}
        self.apply: dict[str, Callable[[bytes], bytes]] = {
            "uuid": self.uuid,
            "date": self.date,
            "count": self.count,
        }

    def uuid(self, text: bytes) -> bytes:
        found = self.ids.get(text)
        if found is None:
            h = "%032x" % (int(text.replace(b"-", b""), 16) ^ self.mask)
            found = self.ids[text] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()
        return found

    def date(self, text: bytes) -> bytes:
        found = self.dates.get(text)
        if found is None:
            moved = date.fromisoformat(text.decode()) + self.days
            found = self.dates[text] = moved.isoformat().encode()
        return found

    def count(self, text: bytes) -> bytes:
        return str(int(text) + self.offset).encode()

    def render(self, template: Template) -> bytes:
        parts = [template.literals[0]]
        apply = self.apply
        for (kind, value), literal in zip(template.slots, template.literals[1:], strict=True):
            parts.append(apply[kind](value))
            parts.append(literal)
        return b"".join(parts)


def chained_rows(
    total: int, *, seed: int = 7, templates: list[Template] | None = None
) -> Iterator[RawRows]:
    """`total` chained rows from sequence 1, in chunks of ROWS_PER_CHUNK."""
    templates = templates or demo_templates()
    rng = random.Random(seed)
    prev = bytes.fromhex(GENESIS_HASH)
    sequence = 0
    chunk = RawRows()
    sha256 = hashlib.sha256
    k = 0
    while sequence < total:
        replica = Replica(k, rng.getrandbits(128), len(templates))
        for template in templates[: total - sequence]:
            data = replica.render(template)
            digest = sha256(prev + data).digest()
            sequence += 1
            chunk.sequence.append(sequence)
            chunk.canonical.append(data)
            chunk.prev_hash.append(prev.hex())
            chunk.hash.append(digest.hex())
            prev = digest
            if len(chunk.sequence) == ROWS_PER_CHUNK:
                yield chunk
                chunk = RawRows()
        k += 1
    if chunk.sequence:
        yield chunk
