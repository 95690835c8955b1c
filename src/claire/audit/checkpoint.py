"""Signed checkpoints: statements of (sequence number, head hash, time) kept outside the database.

The hash chain shows that history was not edited in place; it cannot show that the tail was cut
off, that the whole chain was recomputed after an edit, or that the database was restored from an
older backup. A checkpoint signed with a key the database never sees can: the log must still
contain the checkpointed sequence with the checkpointed hash.

Key: CLAIRE_CHECKPOINT_KEY names an Ed25519 private key (PEM, PKCS#8, unencrypted). Without it
the key is created on first use at $XDG_CONFIG_HOME/claire/checkpoint_ed25519.pem (default
~/.config/claire/), readable by its owner only. Verifying checks signatures against
CLAIRE_CHECKPOINT_PUBLIC_KEY (hex) when set, else against the configured key's public half.

`claire checkpoint --dir DIR` writes one (`write_checkpoint`); `claire verify --checkpoints DIR`
adds `add_checkpoint_findings` to the chain walk; a service writes them periodically with
`CheckpointTimer`.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from claire.audit.verify import ChainBreak, Problem, VerifyReport, verify_log
from claire.errors import ClaireError
from claire.events.codec import GENESIS_HASH
from claire.events.values import format_utc
from claire.store.port import EventStore

CHECKPOINT_VERSION = 1
KEY_ENV = "CLAIRE_CHECKPOINT_KEY"
logger = logging.getLogger(__name__)


class CheckpointError(ClaireError):
    """A checkpoint file is unreadable, malformed or carries a bad signature."""


def default_key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "claire" / "checkpoint_ed25519.pem"


def key_path() -> Path:
    return Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else default_key_path()


def load_or_create_key(path: Path | None = None) -> Any:
    """The signing key; created (mode 0600) when no key exists at the configured place."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = path or key_path()
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError(f"{path}: not an Ed25519 private key")
        return key
    if os.environ.get(KEY_ENV):
        raise CheckpointError(f"{KEY_ENV}={path} does not exist")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def _public_hex(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw: bytes = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return raw.hex()


def _signed_bytes(statement: dict[str, Any]) -> bytes:
    body = {k: v for k, v in statement.items() if k != "signature"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    sequence_number: int
    head_hash: str
    created_at: str
    store: str
    public_key: str
    signature: str
    path: Path | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "version": CHECKPOINT_VERSION,
            "sequence_number": self.sequence_number,
            "head_hash": self.head_hash,
            "created_at": self.created_at,
            "store": self.store,
            "public_key": self.public_key,
            "signature": self.signature,
        }


def write_checkpoint(
    store: EventStore, directory: Path, *, key: Any = None, when: datetime | None = None
) -> Checkpoint:
    """Sign the store's current head and write it to DIRECTORY as one JSON file."""
    key = key or load_or_create_key()
    head = store.head()
    created = format_utc(when or datetime.now(UTC))
    statement: dict[str, Any] = {
        "version": CHECKPOINT_VERSION,
        "sequence_number": head.sequence_number,
        "head_hash": head.hash,
        "created_at": created,
        "store": _redacted(store.url),
        "public_key": _public_hex(key),
    }
    statement["signature"] = key.sign(_signed_bytes(statement)).hex()
    directory.mkdir(parents=True, exist_ok=True)
    stamp = created.replace(":", "").replace("-", "").replace(".", "")
    path = directory / f"checkpoint-{head.sequence_number:012d}-{stamp}.json"
    path.write_bytes(orjson.dumps(statement, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return _from_statement(statement, path)


def _redacted(url: str) -> str:
    """The store URL without a password, to say where a checkpoint was taken."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}@{host}"


def _from_statement(statement: dict[str, Any], path: Path | None) -> Checkpoint:
    try:
        return Checkpoint(
            sequence_number=int(statement["sequence_number"]),
            head_hash=str(statement["head_hash"]),
            created_at=str(statement["created_at"]),
            store=str(statement.get("store", "")),
            public_key=str(statement["public_key"]),
            signature=str(statement["signature"]),
            path=path,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: malformed checkpoint ({exc})") from None


def read_checkpoints(directory: Path, trusted_public_key: str | None = None) -> list[Checkpoint]:
    """Every checkpoint in DIRECTORY, signatures checked, ordered by sequence number."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if not directory.is_dir():
        raise CheckpointError(f"{directory}: no such checkpoint directory")
    found: list[Checkpoint] = []
    for path in sorted(directory.glob("checkpoint-*.json")):
        try:
            statement = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise CheckpointError(f"{path}: not JSON ({exc})") from None
        if not isinstance(statement, dict):
            raise CheckpointError(f"{path}: expected a JSON object")
        checkpoint = _from_statement(statement, path)
        if trusted_public_key is not None and checkpoint.public_key != trusted_public_key:
            raise CheckpointError(f"{path}: signed by an untrusted key {checkpoint.public_key}")
        try:
            public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(checkpoint.public_key))
            public.verify(bytes.fromhex(checkpoint.signature), _signed_bytes(statement))
        except (InvalidSignature, ValueError):
            raise CheckpointError(f"{path}: signature does not match its content") from None
        found.append(checkpoint)
    return sorted(found, key=lambda c: c.sequence_number)


def trusted_public_key() -> str | None:
    """The public half of the configured key, if a key exists (never creates one)."""
    path = key_path()
    return _public_hex(load_or_create_key(path)) if path.exists() else None


@dataclass(frozen=True, slots=True)
class CheckpointFinding:
    checkpoint: Checkpoint
    ok: bool
    problem: str | None

    def to_document(self) -> dict[str, Any]:
        return {
            **self.checkpoint.to_document(),
            "ok": self.ok,
            "problem": self.problem,
            "file": str(self.checkpoint.path) if self.checkpoint.path else None,
        }


def check_against_log(store: EventStore, checkpoints: list[Checkpoint]) -> list[CheckpointFinding]:
    """Does the log still hold each checkpoint's sequence with the same hash?"""
    head = store.head()
    findings: list[CheckpointFinding] = []
    for cp in checkpoints:
        if cp.sequence_number == 0:
            findings.append(CheckpointFinding(cp, True, None))
            continue
        if head.sequence_number < cp.sequence_number:
            findings.append(
                CheckpointFinding(
                    cp,
                    False,
                    f"log ends at sequence {head.sequence_number} but checkpoint {cp.created_at} "
                    f"covers {cp.sequence_number}: tail truncated or an older backup restored",
                )
            )
            continue
        record = next(store.iter_records(cp.sequence_number, cp.sequence_number), None)
        if record is None:
            findings.append(
                CheckpointFinding(cp, False, f"sequence {cp.sequence_number} is missing")
            )
        elif record.hash != cp.head_hash:
            findings.append(
                CheckpointFinding(
                    cp,
                    False,
                    f"hash at sequence {cp.sequence_number} is {record.hash[:16]}… but the "
                    f"checkpoint signed {cp.head_hash[:16]}…: history up to it was rewritten",
                )
            )
        else:
            findings.append(CheckpointFinding(cp, True, None))
    return findings


# --- verify --checkpoints ------------------------------------------------------------------------

PUBLIC_KEY_ENV = "CLAIRE_CHECKPOINT_PUBLIC_KEY"


def verifying_public_key() -> str | None:
    """The key checkpoints must be signed with: CLAIRE_CHECKPOINT_PUBLIC_KEY (hex, for an auditor
    without the private key), else the public half of the configured key, else None (any key,
    reported in the findings)."""
    configured = os.environ.get(PUBLIC_KEY_ENV)
    if configured:
        try:
            if len(bytes.fromhex(configured)) != 32:
                raise ValueError
        except ValueError:
            raise CheckpointError(
                f"{PUBLIC_KEY_ENV} must be 64 hex digits (a raw Ed25519 public key)"
            ) from None
        return configured.lower()
    return trusted_public_key()


def _first_unvouched(findings: list[CheckpointFinding], head_sequence: int) -> ChainBreak | None:
    """The earliest sequence the failed checkpoints no longer vouch for.

    A rewrite is only known to lie after the last checkpoint that still matches and at or before
    the first that does not, so the break names the first sequence of that range.
    """
    last_good = 0
    for finding in sorted(findings, key=lambda f: f.checkpoint.sequence_number):
        cp = finding.checkpoint
        if finding.ok:
            last_good = max(last_good, cp.sequence_number)
            continue
        where = f"checkpoint {cp.path.name if cp.path else cp.created_at}"
        if head_sequence < cp.sequence_number:
            first = max(head_sequence, last_good) + 1
            return ChainBreak(
                first,
                Problem.MISSING,
                f"sequences {first}..{cp.sequence_number} are missing: the log ends at "
                f"{head_sequence} but {where} signed {cp.sequence_number} "
                "(tail truncated or an older backup restored)",
            )
        first = last_good + 1
        return ChainBreak(
            first,
            Problem.OTHER,
            f"history between sequence {first} and {cp.sequence_number} was rewritten: "
            f"{finding.problem} ({where}; the last matching checkpoint is at {last_good})",
        )
    return None


def add_checkpoint_findings(
    report: VerifyReport,
    store: EventStore,
    directory: Path,
    *,
    trusted_key: str | None = None,
) -> VerifyReport:
    """Check the log against every checkpoint in DIRECTORY and add the findings to `report`.

    This is what `claire verify --checkpoints DIR` adds to the chain walk: the chain shows that
    no stored event was edited in place; the checkpoints show that the log still holds what was
    signed (no truncated tail, no history rewritten with recomputed hashes, no older backup).
    The report's first break becomes the checkpoints' if that is earlier than the chain's.
    """
    checkpoints = read_checkpoints(directory, trusted_key)
    head = store.head()
    findings = check_against_log(store, checkpoints)
    report.extra["checkpoints"] = {
        "directory": str(directory),
        "count": len(findings),
        "verified_with_key": trusted_key,
        "findings": [f.to_document() for f in findings],
    }
    if not findings:
        report.extra_problems.append(
            f"no checkpoint files in {directory} (write them with `claire checkpoint --dir`)"
        )
    for finding in findings:
        if not finding.ok:
            name = finding.checkpoint.path.name if finding.checkpoint.path else "checkpoint"
            report.extra_problems.append(f"{name}: {finding.problem}")
    broken = _first_unvouched(findings, head.sequence_number)
    if broken is not None:
        report.break_at(broken, _hash_before(store, broken.sequence_number))
    return report


def _hash_before(store: EventStore, sequence: int) -> str | None:
    """The stored hash of the row before `sequence` (the end of the intact range)."""
    if sequence <= 1:
        return GENESIS_HASH
    record = next(store.iter_records(sequence - 1, sequence - 1), None)
    return record.hash if record else None


def verify_with_checkpoints(
    store: EventStore, directory: Path, from_sequence: int = 1
) -> VerifyReport:
    """`claire verify --checkpoints DIR` in one call: the chain walk, then the checkpoints."""
    report = verify_log(store, from_sequence)
    return add_checkpoint_findings(report, store, directory, trusted_key=verifying_public_key())


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
        key: Any = None,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError(f"interval_seconds must be positive, got {interval_seconds}")
        self.store = store
        self.directory = directory
        self.interval_seconds = interval_seconds
        self._key = key
        self._last: tuple[int, str] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written: list[Checkpoint] = []

    def tick(self) -> Checkpoint | None:
        """Write one checkpoint if the head moved since the last one; return it."""
        head = self.store.head()
        if self._last == (head.sequence_number, head.hash):
            return None
        if self._key is None:
            self._key = load_or_create_key()
        checkpoint = write_checkpoint(self.store, self.directory, key=self._key)
        self._last = (checkpoint.sequence_number, checkpoint.head_hash)
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
