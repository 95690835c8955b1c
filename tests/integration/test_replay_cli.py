"""`claire replay` through the real entry point: state rebuild and what-if on PostgreSQL."""

from __future__ import annotations

import json

from claire.events import EventType
from claire.replay import ReplayEngine
from claire.store import open_store
from tests.integration.test_replay_sessions import Recorded, fold, recorded
from tests.integration.test_validate_cli import claire

__all__ = ["recorded"]  # the shared recorded session fixture


def test_replay_from_a_snapshot_prints_the_rebuilt_state(recorded: Recorded) -> None:
    pg_url, head = recorded.url, recorded.head
    with open_store(pg_url, create=True) as store:
        expected = fold(store, head)
        snapshot = ReplayEngine(store).starting_point(head - 101, True).snapshot
    assert snapshot is not None
    run = claire("replay", "--sequence", str(head - 100), str(head), "--database-url", pg_url)
    assert run.returncode == 0, run.stderr
    out = run.stdout.splitlines()
    assert out[1] == "REPLAY"
    assert out[3] == f"Range: {head - 100} → {head} (101 events)"
    assert out[4] == (
        f"Snapshot: state_snapshot at sequence {snapshot.sequence_number} (state as of sequence "
        f"{snapshot.at_sequence}), not yet verified; folded {head - snapshot.at_sequence:,} "
        "events after it"
    )
    assert f"  Equity:          {expected.equity}" in out
    assert f"  Open positions:  {len(expected.positions)}" in out
    for symbol, position in expected.positions.items():
        assert any(line.startswith(f"  {symbol:<10} {position.side.value}") for line in out)
    assert f"State hash: {expected.hash()}" in out
    assert any(line.startswith("Elapsed: ") and "events/s" in line for line in out)

    run = claire(
        "replay", "--sequence", "1", str(head), "--no-snapshots", "--json", "--database-url", pg_url
    )
    document = json.loads(run.stdout)
    assert document["snapshot_used"] is None and document["snapshots_enabled"] is False
    assert document["state_hash"] == expected.hash()
    assert document["events_in_range"] == head
    assert sum(document["events_per_type"].values()) == head
    assert document["events_per_type"]["market_data"] == 600


def test_replay_by_date_covers_the_whole_day(recorded: Recorded) -> None:
    pg_url, head = recorded.url, recorded.head
    run = claire(
        "replay", "--from", "2025-02-14", "--to", "2025-02-14", "--json", "--database-url", pg_url
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["range"] == {"from_sequence": 1, "to_sequence": head}
    run = claire("replay", "--from", "2025-03-01", "--database-url", pg_url)
    assert run.returncode == 1
    assert "no events recorded between 2025-03-01" in run.stderr


def test_what_if_reports_changes_and_stores_nothing(recorded: Recorded) -> None:
    pg_url, head = recorded.url, recorded.head
    with open_store(pg_url, create=True) as store:
        orders = [str(e.correlation_id) for e in store.read(event_types=[EventType.ORDER_REQUEST])]
    args = ["replay", "--sequence", "1", str(head), "--database-url", pg_url]
    run = claire(*args, "--set", "risk.max_exposure_pct=0.05", "--set", "risk.min_confidence=0.5")
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "WHAT-IF REPLAY (nothing stored)" in out
    assert "Overrides: risk.max_exposure_pct=0.05, risk.min_confidence=0.5" in out
    assert "⚠️  FIRST CHANGED DECISION:" in out
    disappeared = [line[4:] for line in out.splitlines() if line.startswith("  - ")]
    assert disappeared and set(disappeared) <= set(orders)

    run = claire(*args, "--set", "risk.max_exposure_pct=0.05", "--json")
    document = json.loads(run.stdout)
    assert document["stored"] is False
    assert document["trades_disappeared"] == disappeared
    assert document["decisions_changed"] > 0
    assert document["first_change"]["event_type"] == "risk_decision"
    with open_store(pg_url, create=True) as store:
        assert store.head().sequence_number == head

    run = claire(*args, "--set", "risk.max_exposure_pct=-1")
    assert run.returncode == 2
    assert "risk.max_exposure_pct" in run.stderr and len(run.stderr.strip().splitlines()) == 1
