"""Checkpoints: signing, the chain of checkpoints, and what a directory check names."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from claire.audit.checkpoint import load_or_create_key, read_directory, write_checkpoint
from claire.audit.checkpoint_verify import check_against_log, check_directory
from claire.audit.keys import TrustedKey, public_hex
from claire.store.memory import MemoryEventStore
from rigs.factories import trade


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CLAIRE_CHECKPOINT_KEY", raising=False)
    return load_or_create_key()


def trusted(key: Any) -> TrustedKey:
    return TrustedKey(public_hex(key), "test")


def three_checkpoints(directory: Path, key: Any) -> MemoryEventStore:
    """A log of three trades with a checkpoint after each (#1 at 5, #2 at 10, #3 at 15)."""
    store = MemoryEventStore()
    for _ in range(3):
        store.append(trade())
        write_checkpoint(store, directory, key=key)
    return store


def test_key_is_created_once_owner_only(tmp_path: Path, key: Any) -> None:
    path = tmp_path / "config" / "claire" / "checkpoint_ed25519.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert public_hex(load_or_create_key()) == public_hex(key)


def test_checkpoints_chain_and_verify_clean(tmp_path: Path, key: Any) -> None:
    store = three_checkpoints(tmp_path / "cp", key)
    checked = check_directory(tmp_path / "cp", trusted(key))
    assert checked.problems == []
    assert [(c.number, c.sequence_number) for c in checked.checkpoints] == [
        (1, 5),
        (2, 10),
        (3, 15),
    ]
    first, second, _ = checked.checkpoints
    assert second.previous == first.digest and first.previous is None
    assert checked.summary() == (
        f"3 checkpoints signed by key {trusted(key).fingerprint}, newest at sequence 15"
    )
    store.append(trade())  # a log that grew past the checkpoints is fine
    assert all(f.ok for f in check_against_log(store, checked.checkpoints))


def test_edited_checkpoint_fails_its_signature(tmp_path: Path, key: Any) -> None:
    three_checkpoints(tmp_path / "cp", key)
    path = read_directory(tmp_path / "cp")[1].path
    doc = orjson.loads(path.read_bytes())
    doc["sequence_number"] = 3
    path.write_bytes(orjson.dumps(doc))
    problems = check_directory(tmp_path / "cp", trusted(key)).problems
    assert any(path.name in p and "signature does not match" in p for p in problems), problems


def test_another_key_is_untrusted_and_named_by_fingerprint(tmp_path: Path, key: Any) -> None:
    forger = load_or_create_key(tmp_path / "forger.pem")
    three_checkpoints(tmp_path / "cp", forger)
    checked = check_directory(tmp_path / "cp", trusted(key))
    assert checked.checkpoints == []
    forged = trusted(forger).fingerprint
    assert sum(f"untrusted key {forged}" in p for p in checked.problems) == 3
    assert any("no checkpoint in" in p for p in checked.problems)


def test_deleted_middle_checkpoint_is_named(tmp_path: Path, key: Any) -> None:
    three_checkpoints(tmp_path / "cp", key)
    read_directory(tmp_path / "cp")[1].path.unlink()
    problems = check_directory(tmp_path / "cp", trusted(key)).problems
    assert any("follows checkpoint #2, which is not in the directory" in p for p in problems)


def test_replaced_checkpoint_is_named(tmp_path: Path, key: Any) -> None:
    """#2 replaced by a validly signed checkpoint of another log: #3 no longer follows it."""
    three_checkpoints(tmp_path / "cp", key)
    files = read_directory(tmp_path / "cp")
    other = MemoryEventStore()
    other.append(trade() + trade())
    first = files[0].checkpoint
    impostor = write_checkpoint(other, tmp_path / "other", key=key, previous=first)
    assert impostor.path is not None
    files[1].path.unlink()
    shutil.copy(impostor.path, tmp_path / "cp" / impostor.path.name)
    problems = check_directory(tmp_path / "cp", trusted(key)).problems
    assert any("#3" in p and "does not follow checkpoint #2" in p for p in problems), problems


def test_contradicting_checkpoints_are_named(tmp_path: Path, key: Any) -> None:
    """Two checkpoints of sequence 5 with different hashes (two different logs)."""
    three_checkpoints(tmp_path / "cp", key)
    other = MemoryEventStore()
    other.append(trade())
    write_checkpoint(other, tmp_path / "cp", key=key)
    problems = check_directory(tmp_path / "cp", trusted(key)).problems
    assert any("contradict each other: sequence 5" in p for p in problems), problems


def test_the_witness_names_a_deleted_newest_checkpoint(tmp_path: Path, key: Any) -> None:
    three_checkpoints(tmp_path / "cp", key)
    witness = tmp_path / "state" / "witness.json"
    assert check_directory(tmp_path / "cp", trusted(key), witness=witness).problems == []
    read_directory(tmp_path / "cp")[-1].path.unlink()
    checked = check_directory(tmp_path / "cp", trusted(key), witness=witness)
    assert checked.newest is not None and checked.newest.sequence_number == 10
    assert any("#3 at sequence 15" in p and "is gone" in p for p in checked.problems)
    # Remembered until the checkpoint is back: a second look still reports it.
    assert check_directory(tmp_path / "cp", trusted(key), witness=witness).problems


def test_a_writer_that_remembers_its_last_checkpoint_exposes_a_deletion(
    tmp_path: Path, key: Any
) -> None:
    store = MemoryEventStore()
    store.append(trade())
    last = write_checkpoint(store, tmp_path / "cp", key=key)
    assert last.path is not None
    last.path.unlink()
    store.append(trade())
    write_checkpoint(store, tmp_path / "cp", key=key, previous=last)  # as CheckpointTimer does
    problems = check_directory(tmp_path / "cp", trusted(key)).problems
    assert any("follows checkpoint #1, which is not in the directory" in p for p in problems)


def test_truncated_or_restored_log_is_detected(tmp_path: Path, key: Any) -> None:
    events = trade() + trade()
    store = MemoryEventStore()
    store.append(events)
    write_checkpoint(store, tmp_path / "cp", key=key)
    older = MemoryEventStore()  # "restored from an older backup": only the first trade
    older.append(events[:5])
    checkpoints = check_directory(tmp_path / "cp", trusted(key)).checkpoints
    [finding] = check_against_log(older, checkpoints)
    assert not finding.ok
    assert "log ends at sequence 5" in str(finding.problem)
    assert "covers 10" in str(finding.problem)
