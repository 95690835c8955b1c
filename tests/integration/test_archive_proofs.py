"""Inclusion proofs (issue 14 §3): `claire prove` writes a bundle from the archive alone,
`claire verify --proof` checks it offline, and so does the independent verifier printed in
docs/archive.md (run here exactly as the docs give it). Any changed byte fails, saying where."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from claire.archive.location import ArchiveError, open_location
from claire.archive.proof import check_bundle, check_subject, encode_bundle, make_bundle
from claire.archive.reader import ArchiveReader
from claire.archive.seal import seal
from claire.audit.keys import TrustedKey, load_private_key, public_hex
from claire.events import EventType
from claire.store import open_store
from tests.archive_fixtures import SEGMENT, record_small_demo, write_key

DOCS = Path(__file__).resolve().parents[2] / "docs" / "archive.md"
SEALED = 1700  # the rest stays hot


@pytest.fixture(scope="module")
def sealed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("proofs")
    db, key_file, archive = base / "events.db", base / "key.pem", base / "archive"
    key = write_key(key_file)
    with open_store(f"sqlite:///{db}", create=True) as store:
        record_small_demo(store)
        seal(store, open_location(str(archive)), SEALED, key, segment_events=SEGMENT)
        decisions = store.find_events(event_types=[EventType.RISK_DECISION], to_sequence=SEALED)
        decision = next(d for d in decisions if d.payload["approved"])
        trade = store.read_correlation(decision.correlation_id)
        hot = next(iter(store.read(SEALED + 1, SEALED + 1)))
    return {
        "db": db,
        "key_file": key_file,
        "archive": archive,
        "public_key": public_hex(key),
        "decision": decision,
        "trade": trade,
        "hot": hot,
    }


def verifier_source() -> str:
    """The verifier block of docs/archive.md, exactly as the docs print it."""
    block = re.search(
        r"<!-- independent-verifier:start -->\n```python\n(.*?)```\n<!-- independent-verifier:end",
        DOCS.read_text(),
        re.S,
    )
    assert block is not None, "the verifier block is missing from docs/archive.md"
    return block.group(1)


@pytest.fixture(scope="module")
def independent() -> ModuleType:
    module = ModuleType("verify_proof")
    exec(compile(verifier_source(), "docs/archive.md", "exec"), module.__dict__)
    return module


def bundle_of(sealed: dict[str, Any], sequences: list[int]) -> bytes:
    reader = ArchiveReader(open_location(str(sealed["archive"])))
    return encode_bundle(make_bundle(reader, sequences))


def test_a_trade_is_proven_by_both_verifiers(
    sealed: dict[str, Any], independent: ModuleType
) -> None:
    trade = sealed["trade"]
    data = bundle_of(sealed, [e.sequence_number for e in trade])
    trusted = TrustedKey(sealed["public_key"], "test")
    report = check_bundle(data, trusted)
    assert report.ok, report.problems
    assert [e["sequence_number"] for e in report.events] == [e.sequence_number for e in trade]
    assert [e["event"]["event_id"] for e in report.events] == [str(e.event_id) for e in trade]
    lines = independent.verify(data, sealed["public_key"])
    assert len(lines) == len(trade)
    assert str(trade[0].event_id) in lines[0]


def test_every_changed_byte_fails_in_both_verifiers(
    sealed: dict[str, Any], independent: ModuleType
) -> None:
    data = bundle_of(sealed, [sealed["decision"].sequence_number])
    trusted = TrustedKey(sealed["public_key"], "test")
    failures: list[int] = []
    for at in range(len(data)):
        changed = data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]
        ours = check_bundle(changed, trusted)
        if ours.ok:
            failures.append(at)
        try:
            independent.verify(changed, sealed["public_key"])
            failures.append(-at - 1)
        except (ValueError, KeyError, TypeError, AttributeError):
            pass
    assert failures == []


def test_problems_say_where(sealed: dict[str, Any]) -> None:
    data = bundle_of(sealed, [sealed["decision"].sequence_number])
    trusted = TrustedKey(sealed["public_key"], "test")
    bundle = orjson.loads(data)

    def problems(change: Callable[[dict[str, Any]], None]) -> list[str]:
        copy = orjson.loads(data)
        change(copy)
        return check_bundle(encode_bundle(copy), trusted).problems

    sequence = sealed["decision"].sequence_number
    event = bundle["events"][0]
    forged = event["canonical"].replace('"approved":true', '"approved":false')
    assert problems(lambda b: b["events"][0].update(canonical=forged)) == [
        f"events[0] (sequence {sequence}): its canonical bytes and audit path do not lead to the "
        f"signed Merkle root {bundle['manifests']['1']['merkle_root'][:16]}… (the event or its "
        "path was changed)"
    ]
    edited = problems(lambda b: b["manifests"]["1"].update(count=5))
    assert "manifests[1] (segment 1..): the signature does not match" in edited[0]
    layout = check_bundle(data.replace(b'  "format"', b' "format"'), trusted).problems
    assert layout and "not in its canonical form" in layout[0] and "line" in layout[0]
    other = TrustedKey(public_hex(load_private_key(write_key_file(sealed))), "other")
    assert "untrusted key" in check_bundle(data, other).problems[0]


def write_key_file(sealed: dict[str, Any]) -> Path:
    path = Path(sealed["key_file"]).with_name("other.pem")
    if not path.exists():
        write_key(path)
    return path


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claire", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_prove_and_verify_offline(
    sealed: dict[str, Any], independent: ModuleType, tmp_path: Path
) -> None:
    env = {**os.environ, "CLAIRE_ARCHIVE_URL": str(sealed["archive"])}
    env.pop("DATABASE_URL", None)
    decision = sealed["decision"]
    proof = tmp_path / "decision.proof.json"
    done = run(env, "prove", str(decision.event_id), "-o", str(proof))
    assert done.returncode == 0, done.stderr
    assert "Proof of 1 event written" in done.stdout
    trade = tmp_path / "trade.proof.json"
    done = run(env, "prove", "--correlation", str(decision.correlation_id), "-o", str(trade))
    assert done.returncode == 0, done.stderr
    # Offline: no archive, no database, only the file and the key.
    offline = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL"}}
    checked = run(offline, "verify", "--proof", str(trade), "--public-key", sealed["public_key"])
    assert checked.returncode == 0, checked.stderr
    assert f"Proof OK: {len(sealed['trade'])} events" in checked.stdout
    assert str(decision.event_id) in checked.stdout
    script = tmp_path / "verify_proof.py"
    script.write_text(verifier_source())
    by_docs = subprocess.run(
        [sys.executable, str(script), str(trade), sealed["public_key"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert by_docs.returncode == 0 and "PROOF OK" in by_docs.stdout, by_docs.stdout
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(trade.read_bytes().replace(b'"leaf_index": ', b'"leaf_index": 1', 1))
    failed = run(offline, "verify", "--proof", str(tampered), "--public-key", sealed["public_key"])
    assert failed.returncode == 1 and "Proof FAILED" in failed.stdout
    assert "events[0]" in failed.stdout
    hot = run(env, "prove", str(sealed["hot"].event_id))
    assert hot.returncode == 1 and "no sealed event has event_id" in hot.stderr
    usage = run(env, "prove")
    assert usage.returncode == 2


def test_index_row_groups_hold_one_kind_and_every_id_is_found(sealed: dict[str, Any]) -> None:
    """A lookup reads only the row groups whose statistics can hold the id: each holds one kind
    (so the key bounds mean something), and bisection inside it finds every id of the log."""
    reader = ArchiveReader(open_location(str(sealed["archive"])))
    with open_store(f"sqlite:///{sealed['db']}") as store:
        events = list(store.read(1, SEALED))
    for manifest in reader.catalog.segments:
        metadata = reader.segment(manifest).index.metadata
        for group in range(metadata.num_row_groups):
            kinds = metadata.row_group(group).column(0).statistics
            assert kinds.min == kinds.max
    for event in events[::7]:
        assert reader.lookup("event_id", event.event_id) == [event.sequence_number]
        trade = [e.sequence_number for e in events if e.correlation_id == event.correlation_id]
        assert reader.lookup("correlation_id", event.correlation_id) == trade
    assert reader.lookup("event_id", sealed["hot"].event_id) == []


def test_a_bundle_must_prove_what_was_asked_for(sealed: dict[str, Any]) -> None:
    reader = ArchiveReader(open_location(str(sealed["archive"])))
    decision = sealed["decision"]
    bundle = make_bundle(reader, [decision.sequence_number])
    check_subject(bundle, "event_id", decision.event_id)
    with pytest.raises(ArchiveError, match="the archive's index is wrong"):
        check_subject(bundle, "event_id", sealed["hot"].event_id)
