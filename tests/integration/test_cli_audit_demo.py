"""explain, trace, stats and verify on a session recorded by `claire demo`, all in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson


def claire(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "claire", *args, "--database-url", url],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},
        timeout=300,
        check=False,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def test_demo_session_explains_traces_counts_and_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'claire_events.db'}"
    demo = as_json(claire(url, "demo", "--json"))
    decision_id, trade_id = demo["example_decision_id"], demo["example_correlation_id"]

    explained = as_json(claire(url, "explain", decision_id, "--json"))
    assert explained["event"]["event_type"] == "risk_decision"
    assert explained["signal"]["relation"] == "cause"
    chain = explained["causation_chain"]
    assert chain[-1]["event_id"] == decision_id and chain[0]["event_type"] == "market_data"
    assert explained["risk_checks"], "a demo decision records its risk checks"
    assert all({"current_value", "limit"} <= set(c) for c in explained["risk_checks"])

    traced = as_json(claire(url, "trace", trade_id, "--json"))
    assert {e["correlation_id"] for e in traced["events"]} == {trade_id}
    sequences = [e["sequence_number"] for e in traced["events"]]
    assert sequences == sorted(sequences) and traced["total_events"] == len(sequences)
    assert traced["counts_by_type"].get("order_result", 0) >= 1

    human = claire(url, "explain", decision_id)
    assert f"DECISION EXPLANATION: {decision_id}" in human.stdout
    assert "Risk Checks:" in human.stdout and "Causation Chain:" in human.stdout

    stats = as_json(claire(url, "stats", "--all", "--json"))
    assert {row["event_type"]: row["count"] for row in stats["event_types"]} == demo[
        "events_by_type"
    ]
    verified = as_json(claire(url, "verify", "--json"))
    assert verified["ok"] and verified["head_sequence"] == demo["last_sequence"]
