"""Every event the timeline shows carries the chain's verdict (claire.audit.vouch): a row edited
behind the store's back is flagged in the scene's lists, the markers, the event table, the
explanation at a time, and in `claire scene`'s text."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

from claire.store import open_store
from claire.timeline.browse import around
from claire.timeline.explain_at import explain_at
from claire.timeline.markers import markers
from claire.timeline.scene import build_scene
from rigs.factories import START, factory, trade
from tests.integration.test_cli_audit_demo import claire

COLUMN = "payload column differs from the hashed bytes"


def test_an_edited_row_is_flagged_wherever_it_is_shown(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    url = f"sqlite:///{path}"
    with open_store(url, create=True) as store:
        store.append(trade())  # 1-5 at 13:00:00..04: market data .. order_result
        store.append(trade(factory(start=START + timedelta(seconds=10))))  # 6-10
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("DROP TRIGGER IF EXISTS events_immutable_update")
    db.execute(  # the second decision's payload column says something its hash does not
        "UPDATE events SET payload = json_set(payload, '$.reason', 'Forged')"
        " WHERE sequence_number = 8"
    )
    db.close()
    with open_store(url) as store:
        scene = build_scene(store, at=START + timedelta(seconds=12)).to_document()
        flags = {e["sequence_number"]: (e["verified"], e["problem"]) for e in scene["before"]}
        assert flags[8] == (False, COLUMN) and flags[7] == (True, None)
        marks = markers(store, "BTCUSDT")["markers"]
        assert [(m["sequence_number"], m["verified"]) for m in marks] == [
            (3, True),
            (5, True),
            (8, False),
            (10, True),
        ]
        table = around(store, 8, before=1, after=1)["events"]
        assert [e["verified"] for e in table] == [True, False, True]
        answer = explain_at(store, "BTCUSDT", at=START + timedelta(seconds=5)).to_document()
        assert answer["next_decision"]["sequence_number"] == 8
        assert answer["next_decision"]["problem"] == COLUMN
    text = claire(url, "scene", "--at", "2025-02-14 13:00:12")
    assert text.returncode == 0, text.stderr
    (line,) = [row for row in text.stdout.splitlines() if row.strip().startswith("8 ")]
    assert f"⚠ does not verify: {COLUMN}" in line
