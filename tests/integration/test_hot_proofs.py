"""Inclusion proofs for events not sealed yet (issue 14 §3): a signed checkpoint carries the
RFC 6962 root over the hot range (the events after the archive), `claire prove --checkpoints`
proves a hot event (or a trade across the archive boundary) against it, and `claire verify
--proof` and the independent verifier from docs/archive.md check the bundle offline. Any
changed byte fails, saying where. Run on SQLite and PostgreSQL through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from claire.archive.location import open_location
from claire.archive.merkle import MerkleTree
from claire.archive.proof import HotSource, check_bundle, encode_bundle, make_bundle
from claire.archive.reader import ArchiveReader
from claire.archive.seal import seal
from claire.audit.checkpoint import (
    CHECKPOINT_VERSION,
    CheckpointError,
    read_directory,
    write_checkpoint,
)
from claire.audit.checkpoint_verify import check_directory
from claire.audit.keys import TrustedKey, public_hex, sign_document
from claire.events import EventType
from claire.store import open_store
from claire.store.memory import MemoryEventStore
from rigs.factories import trade
from tests.archive_fixtures import SEGMENT, record_small_demo, write_key
from tests.conftest import throwaway_database
from tests.integration.test_archive_proofs import verifier_source


@pytest.fixture(scope="module")
def independent() -> ModuleType:
    module = ModuleType("verify_proof")
    exec(compile(verifier_source(), "docs/archive.md", "exec"), module.__dict__)
    return module


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claire", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def logged(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A recorded log sealed through the first event of a trade (the rest of the trade hot), a
    checkpoint written by `claire checkpoint` with the archive configured."""
    base = tmp_path_factory.mktemp(f"hot-{request.param}")
    with ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{base / 'events.db'}"
        else:
            admin = request.getfixturevalue("pg_admin_url")
            url = stack.enter_context(throwaway_database(admin, "hotproof"))
        key_file, archive, checkpoints = base / "key.pem", base / "archive", base / "cp"
        key = write_key(key_file)
        with open_store(url, create=True) as store:
            record_small_demo(store)
            decisions = store.find_events(event_types=[EventType.RISK_DECISION])
            decision = next(
                d
                for d in decisions
                if d.payload["approved"] and len(store.read_correlation(d.correlation_id)) >= 3
            )
            trade_events = store.read_correlation(decision.correlation_id)
            sealed_through = trade_events[0].sequence_number
            assert sealed_through is not None
            seal(store, open_location(str(archive)), sealed_through, key, segment_events=SEGMENT)
            head = store.head().sequence_number
            hot_rows = [r.canonical for r in store.iter_records(sealed_through + 1)]
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "CLAIRE_ARCHIVE_URL": str(archive),
            "CLAIRE_CHECKPOINT_KEY": str(key_file),
        }
        env.pop("CLAIRE_CHECKPOINT_DIR", None)
        done = run(env, "checkpoint", "--dir", str(checkpoints), "--json")
        assert done.returncode == 0, done.stderr
        yield {
            "url": url,
            "env": env,
            "archive": archive,
            "checkpoints": checkpoints,
            "public_key": public_hex(key),
            "trade": trade_events,
            "sealed_through": sealed_through,
            "head": head,
            "hot_rows": hot_rows,
            "statement": orjson.loads(done.stdout),
        }


def test_the_checkpoint_signs_the_root_of_the_hot_range(logged: dict[str, Any]) -> None:
    statement = logged["statement"]
    assert statement["version"] == CHECKPOINT_VERSION == 3
    assert statement["tree_first_sequence"] == logged["sealed_through"] + 1
    assert statement["tree_size"] == logged["head"] - logged["sealed_through"]
    assert statement["merkle_root"] == MerkleTree.of_leaves(logged["hot_rows"]).root.hex()
    trusted = TrustedKey(logged["public_key"], "test")
    assert check_directory(logged["checkpoints"], trusted).problems == []


def test_cli_proves_a_hot_event_and_a_trade_across_the_boundary(
    logged: dict[str, Any], tmp_path: Path
) -> None:
    env, trade_events = logged["env"], logged["trade"]
    hot_event = trade_events[-1]
    single = tmp_path / "hot.proof.json"
    done = run(
        env, "prove", str(hot_event.event_id), "--checkpoints", str(logged["checkpoints"]),
        "-o", str(single),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Proof of 1 event written" in done.stdout and "checkpoint #1" in done.stdout
    bundle = orjson.loads(single.read_bytes())
    assert bundle["version"] == 2 and bundle["manifests"] == {}
    assert bundle["events"][0]["checkpoint"] == 1
    assert bundle["events"][0]["leaf_index"] == (
        hot_event.sequence_number - logged["sealed_through"] - 1
    )
    whole = tmp_path / "trade.proof.json"
    done = run(
        env, "prove", "--correlation", str(hot_event.correlation_id),
        "--checkpoints", str(logged["checkpoints"]), "-o", str(whole),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    events = orjson.loads(whole.read_bytes())["events"]
    assert [e["sequence_number"] for e in events] == [e.sequence_number for e in trade_events]
    assert "segment" in events[0] and all("checkpoint" in e for e in events[1:])
    # Offline: no database, no archive, only the file and the key.
    offline = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "CLAIRE_ARCHIVE_URL", "CLAIRE_CHECKPOINT_DIR"}
    }
    for proof, count in ((single, 1), (whole, len(trade_events))):
        checked = run(
            offline, "verify", "--proof", str(proof), "--public-key", logged["public_key"]
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert f"Proof OK: {count} event" in checked.stdout
        assert str(hot_event.event_id) in checked.stdout
        script = tmp_path / "verify_proof.py"
        script.write_text(verifier_source())
        by_docs = subprocess.run(
            [sys.executable, str(script), str(proof), logged["public_key"]],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert by_docs.returncode == 0 and "PROOF OK" in by_docs.stdout, by_docs.stdout
        assert by_docs.stdout.count("sequence ") == count
    # A byte of the hot event's bytes changed: both verifiers fail, ours says where.
    data = whole.read_bytes()
    target = data.rindex(b"event_type")  # in the last (hot) event's canonical bytes
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(data[:target] + bytes([data[target] ^ 0x01]) + data[target + 1 :])
    failed = run(offline, "verify", "--proof", str(tampered), "--public-key", logged["public_key"])
    assert failed.returncode == 1 and "Proof FAILED" in failed.stdout
    assert "do not lead to the signed Merkle root" in failed.stdout
    assert "(sequence " in failed.stdout
    by_docs = subprocess.run(
        [sys.executable, str(script), str(tampered), logged["public_key"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert by_docs.returncode == 1 and "PROOF FAILED" in by_docs.stdout


def test_an_event_newer_than_the_checkpoint_asks_for_a_new_one(
    logged: dict[str, Any], tmp_path: Path
) -> None:
    with open_store(logged["url"]) as store:  # plain hot store: the archive is not pruned
        events = trade()
        newer_sequence = store.append(events)[-1]
        newer = events[-1]
    env = logged["env"]
    done = run(env, "prove", str(newer.event_id), "--checkpoints", str(logged["checkpoints"]))
    assert done.returncode == 1
    assert "is not in the Merkle tree of checkpoint #1" in done.stderr
    assert "claire checkpoint --dir DIR" in done.stderr
    without = run(env, "prove", str(newer.event_id))
    assert without.returncode == 1 and "no sealed event has event_id" in without.stderr
    # A second checkpoint extends the first one's tree with the new events only, and proves it.
    second = tmp_path / "cp"
    for item in Path(logged["checkpoints"]).iterdir():
        (second / item.name).parent.mkdir(exist_ok=True)
        (second / item.name).write_bytes(item.read_bytes())
    written = run(env, "checkpoint", "--dir", str(second), "--json")
    assert written.returncode == 0, written.stderr
    statement = orjson.loads(written.stdout)
    assert statement["number"] == 2
    assert statement["tree_first_sequence"] == logged["sealed_through"] + 1
    with open_store(logged["url"]) as store:
        rows = [r.canonical for r in store.iter_records(logged["sealed_through"] + 1)]
    assert statement["merkle_root"] == MerkleTree.of_leaves(rows).root.hex()
    proof = tmp_path / "newer.json"
    done = run(env, "prove", str(newer.event_id), "--checkpoints", str(second), "-o", str(proof))
    assert done.returncode == 0, done.stderr
    report = check_bundle(proof.read_bytes(), TrustedKey(logged["public_key"], "test"))
    assert report.ok, report.problems
    assert report.events[0]["sequence_number"] == newer_sequence


# --- the bundle, byte by byte (no database needed beyond a memory store) -----------------------


@pytest.fixture(scope="module")
def memory_bundle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("memory-hot")
    key = write_key(base / "key.pem")
    store = MemoryEventStore()
    for _ in range(3):
        store.append(trade())
    checkpoint = write_checkpoint(store, base / "cp", key=key)
    data = encode_bundle(make_bundle(None, [7], HotSource(store, checkpoint)))
    return {"data": data, "public_key": public_hex(key), "store": store, "checkpoint": checkpoint}


def test_every_changed_byte_of_a_hot_bundle_fails_in_both_verifiers(
    memory_bundle: dict[str, Any], independent: ModuleType
) -> None:
    data, public_key = memory_bundle["data"], memory_bundle["public_key"]
    trusted = TrustedKey(public_key, "test")
    assert check_bundle(data, trusted).ok
    assert len(independent.verify(data, public_key)) == 1
    failures: list[int] = []
    for at in range(len(data)):
        changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
        if check_bundle(changed, trusted).ok:
            failures.append(at)
        try:
            independent.verify(changed, public_key)
            failures.append(-at - 1)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    assert failures == []


def test_hot_bundle_problems_say_where(memory_bundle: dict[str, Any]) -> None:
    data = memory_bundle["data"]
    trusted = TrustedKey(memory_bundle["public_key"], "test")

    def problems(change: Any) -> list[str]:
        copy = orjson.loads(data)
        change(copy)
        return check_bundle(encode_bundle(copy), trusted).problems

    edited = problems(lambda b: b["checkpoints"]["1"].update(tree_size=99))
    assert edited[0] == (
        "checkpoints[1] (checkpoint at sequence 15): the signature does not match the content "
        "(edited after signing)"
    )
    moved = problems(lambda b: b["events"][0].update(leaf_index=3))
    assert moved == [
        "events[0] (sequence 7): leaf 3 of 15 is not sequence 7 of the signed checkpoint's "
        "tree 1..15"
    ]
    both = problems(lambda b: b["events"][0].update(segment=1))
    assert both == ["events[0] (sequence 7): names neither or both a segment and a checkpoint"]
    old = problems(lambda b: b.update(version=1))
    assert "checkpoints: not part of a version 1 bundle" in old


def test_a_store_that_no_longer_gives_the_signed_root_is_refused(
    memory_bundle: dict[str, Any],
) -> None:
    other = MemoryEventStore()
    for _ in range(3):
        other.append(trade())
    with pytest.raises(CheckpointError, match="do not give the Merkle root of checkpoint #1"):
        make_bundle(None, [7], HotSource(other, memory_bundle["checkpoint"]))


def test_checkpoints_without_a_tree_still_verify_and_are_extended_from_scratch(
    tmp_path: Path,
) -> None:
    """A version 2 checkpoint (no tree) in the directory: it still verifies; the next one
    follows it in the chain and hashes the hot range from its start."""
    key = write_key(tmp_path / "key.pem")
    store = MemoryEventStore()
    store.append(trade())
    first = write_checkpoint(store, tmp_path / "cp", key=key)
    assert first.path is not None
    old = {
        k: v
        for k, v in first.statement.items()
        if k not in {"tree_first_sequence", "tree_size", "merkle_root", "tree_frontier"}
    }
    old_statement = sign_document(key, {**old, "version": 2})
    first.path.write_bytes(orjson.dumps(old_statement, option=orjson.OPT_SORT_KEYS))
    store.append(trade())
    second = write_checkpoint(store, tmp_path / "cp", key=key)
    assert second.number == 2 and second.tree is not None
    rows = [r.canonical for r in store.iter_records()]
    assert second.tree.root == MerkleTree.of_leaves(rows).root.hex()
    files = read_directory(tmp_path / "cp")
    assert [f.checkpoint.tree is None for f in files if f.checkpoint] == [True, False]
    assert check_directory(tmp_path / "cp", TrustedKey(public_hex(key), "test")).problems == []
    # Extending a tree (the frontier) gives the root hashing from scratch gives.
    store.append(trade())
    third = write_checkpoint(store, tmp_path / "cp", key=key)
    rows = [r.canonical for r in store.iter_records()]
    assert third.tree is not None and third.tree.root == MerkleTree.of_leaves(rows).root.hex()


def test_a_checkpoint_proves_after_its_range_was_sealed_and_pruned(tmp_path: Path) -> None:
    """Checkpoint #1's tree starts after the archive; later more is sealed and pruned. Its
    range is then read partly from the archive, and the proof still leads to its root."""
    from claire.archive.prune import prune
    from claire.archive.store import attach_archive

    key = write_key(tmp_path / "key.pem")
    trusted = TrustedKey(public_hex(key), "test")
    url, archive = f"sqlite:///{tmp_path / 'events.db'}", str(tmp_path / "archive")
    with open_store(url, create=True) as hot:
        for _ in range(5):
            hot.append(trade())
        seal(hot, open_location(archive), 10, key, segment_events=256)
    with attach_archive(open_store(url), archive) as store:
        checkpoint = write_checkpoint(store, tmp_path / "cp", key=key)
        assert checkpoint.tree is not None and checkpoint.tree.first == 11
        seal(store.hot, open_location(archive), 15, key, segment_events=256)
        prune(store.hot, open_location(archive), 15, trusted)
        assert store.hot.pruned_through() == 15
        reader = ArchiveReader(open_location(archive))  # as `claire prove` opens it
        data = encode_bundle(make_bundle(reader, [12, 20], HotSource(store, checkpoint)))
    report = check_bundle(data, trusted)
    assert report.ok, report.problems
    bundle = orjson.loads(data)
    assert [("segment" in e, e["sequence_number"]) for e in bundle["events"]] == [
        (True, 12),
        (False, 20),
    ]
