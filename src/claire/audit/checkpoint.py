"""Signed checkpoints: statements of (sequence number, head hash, time) kept outside the database.

The hash chain shows that history was not edited in place; it cannot show that the tail was cut
off, that the whole chain was recomputed after an edit, or that the database was restored from an
older backup. A checkpoint signed with a key the database never sees can: the log must still
contain the checkpointed sequence with the checkpointed hash.

Checkpoints form a chain of their own: each carries its `number` (1, 2, ...) and the `previous`
checkpoint's digest (SHA-256 of its signed bytes), so a deleted or replaced file in the middle,
or two files claiming the same place, show up (see `claire.audit.checkpoint_verify`). A running
writer (`CheckpointTimer`) remembers the last checkpoint it wrote, so deleting the newest file
shows at its next checkpoint, which still names the deleted one as its predecessor.

Keys: see `claire.audit.keys` (CLAIRE_CHECKPOINT_KEY, created on first use at
$XDG_CONFIG_HOME/claire/checkpoint_ed25519.pem). `claire checkpoint --dir DIR` writes one
(`write_checkpoint`); `claire verify --checkpoints DIR` checks them; a service writes them
periodically with `CheckpointTimer`.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from claire.archive.merkle import LEAF_PREFIX, CompactRange
from claire.audit.keys import (
    KEY_ENV,
    PUBLIC_KEY_ENV,
    TrustedKey,
    default_key_path,
    digest,
    key_path,
    load_or_create_key,
    public_hex,
    sign_document,
    signature_problem,
)
from claire.errors import ClaireError
from claire.events.codec import GENESIS_HASH
from claire.events.values import format_utc
from claire.redact import redact_url
from claire.store.port import EventStore, Head

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# 2: `number` and `previous`; 3: the Merkle tree over the hot range (`tree_first_sequence`,
# `tree_size`, `merkle_root`, `tree_frontier`). Files of versions 1 and 2 are still read.
CHECKPOINT_VERSION = 3
PAGE_ROWS = 16_384
logger = logging.getLogger(__name__)


class CheckpointError(ClaireError):
    """A checkpoint directory or file cannot be used at all."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    sequence_number: int
    head_hash: str
    created_at: str
    store: str
    public_key: str
    signature: str
    number: int | None = None  # None in version 1 files (no chain of checkpoints)
    previous: str | None = None  # digest of checkpoint number - 1
    tree: HotTree | None = None  # None before version 3 (no Merkle root)
    path: Path | None = None
    statement: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def digest(self) -> str:
        """What the next checkpoint names as its `previous`."""
        return digest(self.statement)

    @property
    def name(self) -> str:
        return self.path.name if self.path else f"checkpoint #{self.number}"

    @property
    def label(self) -> str:
        """How the output names it: "#3 (checkpoint-….json)"."""
        return f"#{self.number} ({self.name})" if self.number is not None else self.name

    def to_document(self) -> dict[str, Any]:
        return {**self.statement, "file": str(self.path) if self.path else None}

    def covers(self, sequence: int) -> bool:
        """Whether its Merkle tree holds `sequence` (so a proof can lead to its root)."""
        tree = self.tree
        return (
            tree is not None
            and tree.first + tree.size - 1 == self.sequence_number
            and tree.first <= sequence <= self.sequence_number
        )


@dataclass(frozen=True, slots=True)
class HotTree:
    """A checkpoint's RFC 6962 tree over sequences first..first+size-1 (its hot range: after
    the archive's last segment, up to the checkpointed sequence; leaf i = sequence first + i,
    leaf data = the canonical bytes the chain hashed). `frontier` holds the roots of the perfect
    subtrees (largest first), so the next checkpoint extends the tree with the new events only.
    """

    first: int
    size: int
    root: str
    frontier: tuple[str, ...]

    def to_statement(self) -> dict[str, Any]:
        return {
            "tree_first_sequence": self.first,
            "tree_size": self.size,
            "merkle_root": self.root,
            "tree_frontier": list(self.frontier),
        }


def _tree_of(statement: dict[str, Any]) -> HotTree | None:
    """The tree a statement claims (whether it is signed and consistent is checked by its
    users: the signature by the verifiers, the range by `Checkpoint.covers`)."""
    if "merkle_root" not in statement:
        return None
    frontier = statement["tree_frontier"]
    if not isinstance(frontier, list):
        raise CheckpointError("malformed checkpoint (tree_frontier is not a list)")
    return HotTree(
        int(statement["tree_first_sequence"]),
        int(statement["tree_size"]),
        str(statement["merkle_root"]),
        tuple(str(n) for n in frontier),
    )


def _from_statement(statement: dict[str, Any], path: Path | None) -> Checkpoint:
    try:
        number = statement.get("number")
        previous = statement.get("previous")
        return Checkpoint(
            sequence_number=int(statement["sequence_number"]),
            head_hash=str(statement["head_hash"]),
            created_at=str(statement["created_at"]),
            store=str(statement.get("store", "")),
            public_key=str(statement["public_key"]).lower(),
            signature=str(statement["signature"]),
            number=int(number) if number is not None else None,
            previous=str(previous) if previous is not None else None,
            tree=_tree_of(statement),
            path=path,
            statement=statement,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"malformed checkpoint ({exc})") from None


@dataclass(frozen=True, slots=True)
class CheckpointFile:
    """One file of a checkpoint directory: parsed (signature not yet checked), or why not."""

    path: Path
    checkpoint: Checkpoint | None
    problem: str | None


def read_directory(directory: Path) -> list[CheckpointFile]:
    """Every `checkpoint-*.json` in DIRECTORY, in name order (sequence, then time)."""
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    files: list[CheckpointFile] = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            statement = orjson.loads(path.read_bytes())
            if not isinstance(statement, dict):
                raise CheckpointError("expected a JSON object")
            files.append(CheckpointFile(path, _from_statement(statement, path), None))
        except OSError as exc:
            files.append(CheckpointFile(path, None, f"unreadable ({exc.strerror or exc})"))
        except orjson.JSONDecodeError as exc:
            files.append(CheckpointFile(path, None, f"not JSON ({exc})"))
        except CheckpointError as exc:
            files.append(CheckpointFile(path, None, str(exc)))
    return files


def newest_own(directory: Path, public_key: str) -> Checkpoint | None:
    """The newest valid checkpoint in DIRECTORY signed by `public_key` (the writer's own)."""
    if not directory.is_dir():
        return None
    own = TrustedKey(public_key, "the writer's own key")
    mine = [
        f.checkpoint
        for f in read_directory(directory)
        if f.checkpoint is not None and signature_problem(f.checkpoint.statement, own) is None
    ]
    return max(mine, key=lambda c: (c.number or 0, c.sequence_number), default=None)


def write_checkpoint(
    store: EventStore,
    directory: Path,
    *,
    key: Ed25519PrivateKey | None = None,
    when: datetime | None = None,
    previous: Checkpoint | None = None,
) -> Checkpoint:
    """Sign the store's current head and write it to DIRECTORY as one JSON file.

    It follows `previous` (the caller's last checkpoint), else the newest one in DIRECTORY
    signed by the same key.
    """
    key = key or load_or_create_key()
    if previous is None:
        previous = newest_own(directory, public_hex(key))
    head = store.head()
    tree = hot_tree(store, head, previous)
    created = format_utc(when or datetime.now(UTC))
    statement = sign_document(
        key,
        {
            "version": CHECKPOINT_VERSION,
            "number": (previous.number or 0) + 1 if previous else 1,
            "previous": previous.digest if previous else None,
            "sequence_number": head.sequence_number,
            "head_hash": head.hash,
            "created_at": created,
            "store": redact_url(store.url),
            **tree.to_statement(),
        },
    )
    directory.mkdir(parents=True, exist_ok=True)
    stamp = created.replace(":", "").replace("-", "").replace(".", "")
    path = directory / f"checkpoint-{head.sequence_number:012d}-{stamp}.json"
    path.write_bytes(orjson.dumps(statement, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return _from_statement(statement, path)


# --- the Merkle tree over the hot range ----------------------------------------------------------


def hot_range_start(store: EventStore) -> tuple[int, str]:
    """Where a checkpoint's tree starts, and the hash before it: after the archive's last
    segment (sealed events are proven against their segment), else at sequence 1."""
    from claire.archive.store import ArchivedEventStore

    if isinstance(store, ArchivedEventStore):
        from claire.archive.catalog import Catalog

        catalog = Catalog.load(store.archive.location)  # sealed since the store was opened?
        return catalog.last_sequence + 1, catalog.last_hash
    return 1, GENESIS_HASH


def hot_tree(store: EventStore, head: Head, previous: Checkpoint | None) -> HotTree:
    """The tree over the hot range up to `head`: the previous checkpoint's extended by the events
    after it when it starts at the same place, else hashed from the start of the range. The rows
    hashed are checked to form the chain from the hash before them to the head's hash, so the
    root and the head hash vouch for the same bytes (a broken chain is never signed)."""
    first, before = hot_range_start(store)
    if first > head.sequence_number + 1:
        raise CheckpointError(
            f"the archive ends at {first - 1}, after the store's head {head.sequence_number}"
        )
    tree = CompactRange()
    start = first
    old = previous.tree if previous is not None else None
    if (
        previous is not None
        and old is not None
        and old.first == first
        and old.first + old.size - 1 == previous.sequence_number
        and len(old.frontier) == old.size.bit_count()
        and previous.sequence_number <= head.sequence_number
        and _hash_at(store, previous.sequence_number, before) == previous.head_hash
    ):
        tree = CompactRange([bytes.fromhex(n) for n in old.frontier], old.size)
        start, before = previous.sequence_number + 1, previous.head_hash
    last_hash = _extend(store, tree, start, head.sequence_number, before)
    if last_hash != head.hash:
        raise CheckpointError(
            f"not signed: the rows {start}..{head.sequence_number} end at hash "
            f"{last_hash[:16]}…, the head is {head.hash[:16]}… (run `claire verify`)"
        )
    frontier = tuple(n.hex() for n in tree.nodes)
    return HotTree(first, tree.size, tree.root.hex(), frontier)


def _hash_at(store: EventStore, sequence: int, before_first: str) -> str | None:
    """The stored hash of `sequence` (0: the hash before the range)."""
    if sequence < 1:
        return before_first
    page = next(iter(store.raw_pages(sequence, sequence, 1)), None)
    return page.hash[0] if page is not None and page.sequence == [sequence] else None


def _extend(store: EventStore, tree: CompactRange, start: int, last: int, before: str) -> str:
    """Append the leaves start..last to `tree`, checking the chain from `before`; the last hash."""
    if start > last:
        return before
    sha256, append, expected, prev = hashlib.sha256, tree.append, start, before
    for page in store.raw_pages(start, last, PAGE_ROWS):
        for seq, data, prev_hash, digest_hex in zip(
            page.sequence, page.canonical, page.prev_hash, page.hash, strict=True
        ):
            if seq != expected or prev_hash != prev:
                why = "a gap" if seq != expected else "prev_hash is not the hash before"
                raise CheckpointError(
                    f"not signed: sequence {seq} breaks the hash chain ({why}); run `claire verify`"
                )
            if sha256(bytes.fromhex(prev_hash) + data).hexdigest() != digest_hex:
                raise CheckpointError(
                    f"not signed: sequence {seq} breaks the hash chain (its hash does not match "
                    "its bytes); run `claire verify`"
                )
            append(sha256(LEAF_PREFIX + data).digest())
            prev, expected = digest_hex, expected + 1
    if expected != last + 1:
        raise CheckpointError(f"not signed: the store returned no row for sequence {expected}")
    return prev


# --- periodic checkpoints (the service's "every N seconds") --------------------------------------


class CheckpointTimer:
    """Writes a checkpoint every `interval_seconds` while the log grows, on a daemon thread.

    Wiring in a service: `timer = CheckpointTimer(store, Path(dir), 60.0); timer.start()` at
    start-up and `timer.stop()` at shutdown (stop writes a last checkpoint when the log moved).
    A tick with an unchanged head writes nothing, so an idle system does not fill the directory.
    A failing tick (database briefly away) is logged and retried at the next interval.
    """

    def __init__(
        self,
        store: EventStore,
        directory: Path,
        interval_seconds: float,
        *,
        key: Ed25519PrivateKey | None = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
        self.store = store
        self.directory = directory
        self.interval_seconds = interval_seconds
        self._key = key
        self._last: Checkpoint | None = None  # the next one follows it, even if it is deleted
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written: list[Checkpoint] = []

    def tick(self) -> Checkpoint | None:
        """Write one checkpoint if the head moved since the last one; return it."""
        head = self.store.head()
        last = self._last
        if last is not None and (last.sequence_number, last.head_hash) == (
            head.sequence_number,
            head.hash,
        ):
            return None
        if self._key is None:
            self._key = load_or_create_key()
        checkpoint = write_checkpoint(self.store, self.directory, key=self._key, previous=last)
        self._last = checkpoint
        self.written.append(checkpoint)
        return checkpoint

    def run(self) -> None:
        """Tick every interval until `stop()` (blocking; `start()` runs it on a thread)."""
        self._run()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_seconds):
            try:
                self.tick()
            except Exception:  # keep the timer alive; the next tick retries
                logger.exception("writing a checkpoint to %s failed", self.directory)

    def start(self) -> CheckpointTimer:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="claire-checkpoint", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.tick()
        except Exception:
            logger.exception("writing the final checkpoint to %s failed", self.directory)


__all__ = [
    "CHECKPOINT_VERSION",
    "KEY_ENV",
    "PUBLIC_KEY_ENV",
    "Checkpoint",
    "CheckpointError",
    "CheckpointFile",
    "CheckpointTimer",
    "HotTree",
    "default_key_path",
    "hot_range_start",
    "hot_tree",
    "key_path",
    "load_or_create_key",
    "newest_own",
    "read_directory",
    "write_checkpoint",
]
