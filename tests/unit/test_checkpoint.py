from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from claire.audit.checkpoint import (
    CheckpointError,
    check_against_log,
    load_or_create_key,
    read_checkpoints,
    write_checkpoint,
)
from claire.store.memory import MemoryEventStore
from tests.factories import trade


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CLAIRE_CHECKPOINT_KEY", raising=False)
    return load_or_create_key()


def test_key_is_created_once_owner_only(tmp_path: Path, key: object) -> None:
    path = tmp_path / "config" / "claire" / "checkpoint_ed25519.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    again = load_or_create_key()
    assert again.public_key().public_bytes_raw() == key.public_key().public_bytes_raw()  # type: ignore[attr-defined]


def test_checkpoint_round_trip_and_clean_log(tmp_path: Path, key: object) -> None:
    store = MemoryEventStore()
    store.append(trade())
    written = write_checkpoint(store, tmp_path / "cp", key=key)
    assert written.sequence_number == 5
    [read] = read_checkpoints(tmp_path / "cp")
    assert read.head_hash == store.head().hash
    store.append(trade())  # a log that grew past the checkpoint is fine
    assert [f.ok for f in check_against_log(store, [read])] == [True]


def test_edited_checkpoint_fails_its_signature(tmp_path: Path, key: object) -> None:
    store = MemoryEventStore()
    store.append(trade())
    cp = write_checkpoint(store, tmp_path / "cp", key=key)
    assert cp.path is not None
    doc = orjson.loads(cp.path.read_bytes())
    doc["sequence_number"] = 3
    cp.path.write_bytes(orjson.dumps(doc))
    with pytest.raises(CheckpointError, match="signature"):
        read_checkpoints(tmp_path / "cp")


def test_truncated_or_restored_log_is_detected(tmp_path: Path, key: object) -> None:
    events = trade() + trade()
    store = MemoryEventStore()
    store.append(events)
    write_checkpoint(store, tmp_path / "cp", key=key)
    older = MemoryEventStore()  # "restored from an older backup": only the first trade
    older.append(events[:5])
    [finding] = check_against_log(older, read_checkpoints(tmp_path / "cp"))
    assert not finding.ok
    assert "log ends at sequence 5" in str(finding.problem)
    assert "covers 10" in str(finding.problem)


def test_rewritten_history_with_recomputed_hashes_is_detected(tmp_path: Path, key: object) -> None:
    store = MemoryEventStore()
    store.append(trade())
    write_checkpoint(store, tmp_path / "cp", key=key)
    forged = MemoryEventStore()  # a consistent chain, but not the one that was signed
    forged.append(trade())
    [finding] = check_against_log(forged, read_checkpoints(tmp_path / "cp"))
    assert not finding.ok
    assert "rewritten" in str(finding.problem)


def test_untrusted_key_is_refused(tmp_path: Path, key: object) -> None:
    store = MemoryEventStore()
    store.append(trade())
    write_checkpoint(store, tmp_path / "cp", key=key)
    with pytest.raises(CheckpointError, match="untrusted"):
        read_checkpoints(tmp_path / "cp", trusted_public_key="00" * 32)
