"""`claire demo` and `claire record` through the real `claire` entry point, in subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID

from claire.events import EventType
from claire.store import open_store

CLAIRE = Path(sys.executable).with_name("claire")


def claire(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    return subprocess.run(
        [str(CLAIRE), *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_demo_records_a_trading_day_and_prints_commands_that_work(tmp_path: Path) -> None:
    result = claire(tmp_path, "demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    store_file = tmp_path / "claire_events.db"
    assert store_file.exists()
    counts = {k: int(v.replace(",", "")) for k, v in re.findall(r"(\w+)\s+│\s+([\d,]+)", out)}
    assert counts["market_data"] == 3 * 8640
    assert sum(counts.values()) >= 20_000
    trades = re.search(r"Trades:\s+(\d+) approved, (\d+) rejected by risk, (\d+) stop-loss", out)
    assert trades is not None
    assert all(int(n) > 0 for n in trades.groups()), out
    assert "PnL:" in out
    decision = re.search(r"claire explain ([0-9a-f-]{36})", out)
    trade = re.search(r"claire trace ([0-9a-f-]{36})", out)
    span = re.search(r"claire validate --sequence (\d+) (\d+)", out)
    assert decision and trade and span, out
    assert "claire stats" in out
    assert f"claire replay --sequence {span[1]} {span[2]}" in out
    with open_store(f"sqlite:///{store_file}", create=True) as store:
        explained = store.get(UUID(decision[1]))
        assert explained is not None
        assert explained.event_type is EventType.RISK_DECISION
        assert explained.payload["approved"] is True
        traced = store.read_correlation(UUID(trade[1]))
        assert traced[0].event_type is EventType.MARKET_DATA
        assert any("stop_loss" in e.payload.get("risk_checks", {}) for e in traced)
        assert (int(span[1]), int(span[2])) == (1, store.head().sequence_number)
        assert sum(counts.values()) == store.head().sequence_number
    # The printed commands run.
    explain = claire(tmp_path, "explain", decision[1])
    assert explain.returncode == 0 and "Approved: True" in explain.stdout
    validate = claire(tmp_path, "validate", "--sequence", span[1], span[2])
    assert validate.returncode == 0, validate.stdout + validate.stderr


def test_demo_twice_appends_a_second_day_and_fresh_starts_over(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    first = as_json(claire(tmp_path, "demo", "--database-url", url, "--json"))
    second = as_json(claire(tmp_path, "demo", "--database-url", url, "--json"))
    assert first["first_sequence"] == 1
    assert second["first_sequence"] == first["last_sequence"] + 1
    assert second["session_id"] != first["session_id"]
    assert second["pnl"]["starting_equity"] == first["pnl"]["ending_equity"]
    assert f"--database-url {url}" in second["next_commands"][0]
    fresh = as_json(claire(tmp_path, "demo", "--database-url", url, "--fresh", "--json"))
    # Same seed, same store state: the very same first session again.
    assert (fresh["first_sequence"], fresh["last_sequence"]) == (1, first["last_sequence"])
    assert fresh["session_id"] == first["session_id"]
    assert fresh["events_by_type"] == first["events_by_type"]


def test_fresh_refuses_a_server_database(tmp_path: Path) -> None:
    result = claire(
        tmp_path, "demo", "--fresh", "--database-url", "postgresql://nobody@127.0.0.1:1/none"
    )
    assert result.returncode == 2
    assert "--fresh only deletes the embedded SQLite store" in result.stderr


def test_record_a_csv_file_and_refuse_a_malformed_one(tmp_path: Path) -> None:
    rows = ["Date,Open,High,Low,Close,Volume"]
    price = 100
    for minute in range(300):
        price += 1 if (minute // 25) % 2 == 0 else -1
        when = f"2025-03-01T{minute // 60:02d}:{minute % 60:02d}:00"
        rows.append(f"{when},{price},{price + 1},{price - 1},{price},{10 + minute % 7}")
    good = tmp_path / "prices.csv"
    good.write_text("\n".join(rows) + "\n")
    config = tmp_path / "pipeline.toml"
    config.write_text("[risk]\nmin_confidence = 0.1\n[session]\nsnapshot_every = 100\n")
    url = f"sqlite:///{tmp_path / 'csv.db'}"
    recorded = as_json(
        claire(
            tmp_path,
            "record",
            "--market-data",
            str(good),
            "--symbol",
            "TESTUSD",
            "--column",
            "timestamp=Date",
            "--config",
            str(config),
            "--database-url",
            url,
            "--json",
        )
    )
    assert recorded["events_by_type"]["market_data"] == 300
    assert recorded["snapshots"] >= 3
    with open_store(url, create=True) as store:
        start = next(store.read(1, 1))
        assert start.payload["context"]["config"]["risk"]["min_confidence"] == "0.1"
        head = store.head()
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([*rows[:10], "2025-03-01T05:00:00,1,2,0.5,1,not-a-volume"]) + "\n")
    refused = claire(
        tmp_path,
        "record",
        "--market-data",
        str(bad),
        "--symbol",
        "TESTUSD",
        "--column",
        "timestamp=Date",
        "--database-url",
        url,
    )
    assert refused.returncode == 1
    assert "bad.csv line 11: column volume: 'not-a-volume' is not a number" in refused.stderr
    with open_store(url, create=True) as store:
        assert store.head() == head
    wrong_config = claire(
        tmp_path,
        "record",
        "--market-data",
        str(good),
        "--symbol",
        "TESTUSD",
        "--config",
        str(bad),
        "--database-url",
        url,
    )
    assert wrong_config.returncode == 2
    assert "--config" in wrong_config.stderr
