"""Issue 12 §3: every view flags what the hash chain cannot vouch for, on SQLite and PostgreSQL.

One recorded session per adapter, tampered once behind the store's back (the tamper matrix's
raw access), then read through the real `claire` entry point, the real HTTP server and, on
PostgreSQL, the SQL audit functions:

- decision A: only its JSONB payload column edited (approved and reason), the hashed bytes left
  alone. Seen: `claire explain` showed the bytes while `explain_decision()` and
  `get_causation_chain()` showed the edit, with no warning anywhere.
- decision B: its canonical bytes *and* columns edited and its own hash recomputed. Seen:
  `claire explain`, `GET /events/{id}`, `/explain` and `/events?from_sequence=` showed the
  forgery as genuine.
- the snapshot a replay starts from: its metadata column edited.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from claire.events import EventType
from claire.store import open_store
from rigs.tamper import (
    PostgresRaw,
    RawDb,
    SqliteRaw,
    edit_metadata,
    encode,
    recompute_from,
)
from tests.conftest import throwaway_database
from tests.integration.test_api_service import ROOT, start_server, stop_server
from tests.integration.test_replay_sessions import record_session
from tests.integration.test_tamper_cli import claire

COLUMN = "payload column differs from the hashed bytes"
REHASHED = "committed to another hash"


@dataclass(frozen=True)
class Tampered:
    url: str
    column_edited: dict[str, Any]  # decision A: sequence_number, event_id, correlation_id
    rehashed: dict[str, Any]  # decision B
    snapshot: int  # the sequence of the edited snapshot
    replay_from: int  # a replay from here starts at that snapshot
    head: int


def _flip(raw: RawDb, seq: int, *, canonical: bool) -> None:
    """Reverse the decision at `seq`: in the payload column, and in the bytes too."""
    row = raw.row(seq)
    forged = {**row["payload"], "approved": not row["payload"]["approved"], "reason": "Forged"}
    raw.set_json(seq, "payload", forged)
    if canonical:
        doc = orjson.loads(row["canonical"])
        doc["payload"] = forged
        raw.set_canonical(seq, encode(doc))
        recompute_from(raw, seq, seq)  # only its own hash: the next event still links to the old


def _describe(event: Any) -> dict[str, Any]:
    return {
        "sequence_number": event.sequence_number,
        "event_id": str(event.event_id),
        "correlation_id": str(event.correlation_id),
        "approved": event.payload["approved"],
    }


def _tampered(url: str, raw_access: Callable[[], RawDb]) -> Tampered:
    with open_store(url, create=True) as store:
        head = record_session(store)
        decisions = list(store.read(event_types=[EventType.RISK_DECISION]))
        a, b = decisions[0], decisions[-2]
        replay_from = head - 5
        snapshot = store.latest_snapshot(replay_from - 1)
        assert snapshot is not None and snapshot.sequence_number is not None
    raw = raw_access()
    try:
        _flip(raw, a.sequence_number or 0, canonical=False)
        _flip(raw, b.sequence_number or 0, canonical=True)
        edit_metadata(raw, snapshot.sequence_number, column=True, canonical=False)
    finally:
        raw.close()
    return Tampered(url, _describe(a), _describe(b), snapshot.sequence_number, replay_from, head)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def tampered(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Tampered]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("views") / "events.db"
        yield _tampered(f"sqlite:///{path}", lambda: SqliteRaw(path))
        return
    with throwaway_database(request.getfixturevalue("pg_admin_url"), "views") as url:
        yield _tampered(url, lambda: PostgresRaw(url))


def run(tampered: Tampered, *args: str) -> Any:
    return claire({}, *args, "--database-url", tampered.url)


def test_explain_marks_an_edited_column_and_a_rehashed_event(tampered: Tampered) -> None:
    a, b = tampered.column_edited, tampered.rehashed
    text = run(tampered, "explain", a["event_id"])
    assert text.returncode == 0, text.stderr
    assert f"Approved: {a['approved']}" in text.stdout  # the hashed bytes, as before...
    assert f"⚠ does not verify: {COLUMN}" in text.stdout  # ...now with the warning
    assert "⚠ does not verify: 1 of the" in text.stdout
    document = orjson.loads(run(tampered, "explain", b["event_id"], "--json").stdout)
    assert document["event"]["verified"] is False
    assert REHASHED in document["event"]["problem"]
    assert document["decision"]["verified"] is False
    assert [link["verified"] for link in document["causation_chain"]][-1] is False
    assert all(link["verified"] for link in document["causation_chain"][:-1])
    assert document["unverified_events"] == 1


def test_trace_marks_the_forged_event(tampered: Tampered) -> None:
    b = tampered.rehashed
    text = run(tampered, "trace", b["correlation_id"])
    assert text.returncode == 0, text.stderr
    assert f"(seq {b['sequence_number']})\n   ⚠ does not verify: " in text.stdout
    assert text.stdout.count("⚠ does not verify") == 2  # the summary line and the event


def test_replay_flags_the_snapshot_it_started_from(tampered: Tampered) -> None:
    args = ["replay", "--sequence", str(tampered.replay_from), str(tampered.head)]
    document = orjson.loads(run(tampered, *args, "--json").stdout)
    assert document["snapshot_used"]["sequence_number"] == tampered.snapshot
    chain = document["snapshot_used"]["chain"]
    assert chain["verified"] is False
    assert "metadata column differs" in chain["problem"]
    text = run(tampered, *args)
    assert f"⚠ does not verify: state_snapshot at sequence {tampered.snapshot}: meta" in text.stdout


def test_the_api_flags_every_event_document(tampered: Tampered) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DATABASE_URL": tampered.url}
    for name in ("REDIS_URL", "CLAIRE_READ_TOKEN"):
        env.pop(name, None)
    server = start_server(env, "--no-ingest")
    a, b = tampered.column_edited, tampered.rehashed
    try:
        with httpx.Client(base_url=server.url, timeout=10) as http:

            def get(path: str) -> Any:
                response = http.get(path)
                assert response.status_code == 200, response.text
                return response.json()

            one = get(f"/events/{b['event_id']}")
            assert (one["verified"], REHASHED in one["problem"]) == (False, True)
            assert get(f"/events/{a['event_id']}")["problem"] == COLUMN
            explained = get(f"/events/{b['event_id']}/explain")
            assert explained["event"]["verified"] is False
            seq = b["sequence_number"]
            page = get(f"/events?from_sequence={seq - 1}&limit=3")["events"]
            assert [e["verified"] for e in page] == [True, False, True]
            chain = get(f"/events/{b['event_id']}/causation")["chain"]
            assert [e["verified"] for e in chain][-1] is False
            trade = get(f"/correlations/{b['correlation_id']}")["events"]
            assert [e["sequence_number"] for e in trade if not e["verified"]] == [seq]
            record = get(f"/events/{b['event_id']}/record")
            assert set(record) == {
                "sequence_number", "event_id", "prev_hash", "hash", "canonical", "verified",
                "problem",
            }  # fmt: skip
            assert (record["sequence_number"], record["verified"]) == (seq, False)
            assert orjson.loads(record["canonical"])["payload"]["reason"] == "Forged"
            clean = get(f"/events/{page[0]['event_id']}/record")
            assert (clean["verified"], clean["problem"]) == (True, None)
            with open_store(tampered.url) as store:
                [stored] = store.iter_records(seq - 1, seq - 1)
            assert clean["canonical"].encode() == stored.canonical
            assert clean["hash"] == stored.hash
    finally:
        stop_server(server)


@pytest.mark.parametrize("tampered", ["postgres"], indirect=True)  # PostgreSQL's functions
def test_sql_audit_functions_return_a_verified_column(tampered: Tampered) -> None:
    import psycopg

    a, b = tampered.column_edited, tampered.rehashed
    with psycopg.connect(tampered.url) as conn:
        [(explained,)] = conn.execute("SELECT explain_decision(%s)", (a["event_id"],)).fetchall()
        assert explained["decision"]["payload"]["reason"] == "Forged"  # the edited column...
        assert explained["decision"]["verified"] is False  # ...flagged
        assert explained["decision"]["problem"] == COLUMN
        assert explained["verified"] is False
        chain = conn.execute(
            "SELECT sequence_number, verified, problem FROM get_causation_chain(%s)",
            (b["event_id"],),
        ).fetchall()
        assert chain[-1][:2] == (b["sequence_number"], False)
        assert REHASHED in chain[-1][2]
        assert all(verified for _, verified, _ in chain[:-1])
        trade = conn.execute(
            "SELECT sequence_number FROM get_correlation_events(%s) WHERE NOT verified",
            (a["correlation_id"],),
        ).fetchall()
        assert trade == [(a["sequence_number"],)]


def test_untouched_events_verify_everywhere(tampered: Tampered, tmp_path: Path) -> None:
    """The checks do not cry wolf: the events around the forgeries verify."""
    with open_store(tampered.url) as store:
        first = next(iter(store.read(1, 1)))
    document = orjson.loads(run(tampered, "explain", str(first.event_id), "--json").stdout)
    assert document["unverified_events"] == 0
    assert document["event"]["verified"] is True
