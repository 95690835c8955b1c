"""Honest history validates: three sessions recorded with three configurations by `claire record`
are validated and what-if'ed each with its own configuration, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from claire.pipeline.config import PipelineConfig, load_config
from claire.replay.validate import Validator
from claire.replay.whatif import what_if
from claire.store import open_store
from tests.conftest import throwaway_database
from tests.integration.test_validate_cli import claire

# Three sessions: the issue's configuration (BTC), the defaults (ETH), and a third (SOL).
CONFIGS = {
    "a.toml": "[risk]\nmin_confidence = 0.5\nmax_open_positions = 1\n",
    "c.json": '{"strategy": {"lookback": 10}, "risk": {"min_confidence": 0.55},'
    ' "session": {"snapshot_every": 150}}',
}
SESSIONS = (
    ("a.csv", "BTCUSDT", 50_000, "a.toml"),
    ("b.csv", "ETHUSDT", 3_000, None),
    ("c.csv", "SOLUSDT", 150, "c.json"),
)


def write_bars(path: Path, seed: int, price: float, day: int, bars: int = 500) -> None:
    """Minute bars that trend up and down in turns, with occasional volume spikes."""
    rng = random.Random(seed)
    rows = ["timestamp,open,high,low,close,volume"]
    for i in range(bars):
        opened = price
        price *= 1 + rng.gauss(0, 0.004) + (0.003 if (i // 40) % 2 == 0 else -0.003)
        volume = 10 + rng.random() * 5 + (30 if rng.random() < 0.2 else 0)
        rows.append(
            f"2025-03-{day:02d}T{i // 60:02d}:{i % 60:02d}:00,{opened:.2f},"
            f"{max(opened, price) * 1.001:.2f},{min(opened, price) * 0.999:.2f},{price:.2f},"
            f"{volume:.3f}"
        )
    path.write_text("\n".join(rows) + "\n")


@dataclass(frozen=True)
class Session:
    first: int
    last: int
    config: PipelineConfig


@dataclass(frozen=True)
class Log:
    url: str
    sessions: list[Session]

    @property
    def head(self) -> int:
        return self.sessions[-1].last


def record_sessions(directory: Path, url: str) -> Log:
    for name, text in CONFIGS.items():
        (directory / name).write_text(text)
    sessions = []
    for day, (csv, symbol, price, config) in enumerate(SESSIONS, start=1):
        write_bars(directory / csv, seed=day, price=price, day=day)
        args = ["record", "--market-data", str(directory / csv), "--symbol", symbol]
        if config is not None:
            args += ["--config", str(directory / config)]
        run = claire(*args, "--database-url", url, "--json")
        assert run.returncode == 0, run.stderr
        summary = json.loads(run.stdout)
        assert summary["events_by_type"]["risk_decision"] > 5  # each session trades
        used = load_config(directory / config) if config is not None else PipelineConfig()
        sessions.append(Session(summary["first_sequence"], summary["last_sequence"], used))
    return Log(url, sessions)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Log]:
    directory = tmp_path_factory.mktemp("sessions")
    if request.param == "sqlite":
        yield record_sessions(directory, f"sqlite:///{directory / 'store.db'}")
        return
    admin: str = request.getfixturevalue("pg_admin_url")
    with throwaway_database(admin, "sessions") as url:
        yield record_sessions(directory, url)


def validate(log: Log, first: int, last: int, **options: Any) -> dict[str, Any]:
    with open_store(log.url) as store:
        report = Validator(store, **options).validate(first, last)
    document = report.to_document()
    assert document["deterministic"], json.dumps(document["checks"], indent=1)
    decisions: dict[str, Any] = document["checks"][2]["details"]
    return decisions


def test_every_session_and_every_straddling_range_validates(log: Log) -> None:
    s1, s2, s3 = log.sessions
    ranges = [
        (1, log.head),  # the whole log
        (s1.first, s1.last),
        (s2.first, s2.last),  # starts exactly at its session_started alert
        (s3.first, s3.last),
        (s1.last - 20, s2.first + 20),  # straddles one boundary
        (s2.first - 1, s2.first),  # the last event of one session and the alert of the next
        (s1.last, s3.first + 5),  # straddles both
        (s2.first + 1, s3.last),  # starts just after a session_started alert
    ]
    for first, last in ranges:
        decisions = validate(log, first, last)
        parts = decisions["parts"]
        expected = [s for s in log.sessions if s.first <= last and s.last >= first]
        assert [(p["from_sequence"], p["to_sequence"]) for p in parts] == [
            (max(first, s.first), min(last, s.last)) for s in expected
        ]
        for part, session in zip(parts, expected, strict=True):
            assert part["config_source"] == f"session_started alert at sequence {session.first}"
            assert part["config_hash"] == part["recorded_config_hash"]
            assert part["config_hash"] == session.config.config_hash()
    assert validate(log, 1, log.head)["decisions_matched"] > 100


def test_the_issues_second_session_validates_through_the_cli(log: Log) -> None:
    second = log.sessions[1]
    run = claire(
        "validate", "--sequence", str(second.first), str(second.last), "--database-url", log.url
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Deterministic: ✅ YES" in run.stdout
    run = claire("validate", "--database-url", log.url)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "(3 parts, each with its own recorded configuration)" in out
    for session in log.sessions:
        assert (
            f"  ✅ {session.first} → {session.last}: " in out
            and f"config: session_started alert at sequence {session.first} "
            f"(hash {session.config.config_hash()[:12]}…)"
            in out
        )


def test_what_if_with_the_values_in_force_changes_nothing(log: Log) -> None:
    s1, s2, s3 = log.sessions
    with open_store(log.url) as store:
        # take_profit_ratio is 2 in all three sessions; 0.50 is session 1's 0.5.
        for first, last, overrides in [
            (1, log.head, {"risk.take_profit_ratio": "2"}),
            (s1.first, s1.last, {"risk.min_confidence": "0.50"}),
            (s3.first, s3.last, {"risk.min_confidence": "0.55", "strategy.lookback": "10"}),
            (s1.last - 30, s2.last, {"execution.fee_rate": "0.0010", "strategy.lookback": "20"}),
        ]:
            report = what_if(store, first, last, overrides)
            assert report.decisions_changed == 0, (first, last, overrides)
            assert report.first_change is None and report.pnl_difference == 0
            assert [p["config_hash"] for p in report.parts] == [
                p["recorded_config_hash"] for p in report.parts
            ]
        # 0.5 is in force in session 1 only: the first change is in session 2.
        report = what_if(store, 1, log.head, {"risk.min_confidence": "0.5"})
        assert report.first_change is not None
        assert report.first_change.sequence_number > s2.first
        assert len(report.parts) == 3

    args = ["replay", "--database-url", log.url, "--set", "risk.take_profit_ratio=2"]
    run = claire(*args)
    assert run.returncode == 0, run.stderr
    assert ", 0 changed" in run.stdout and "0 appear, 0 disappear" in run.stdout
    assert "No decision changed." in run.stdout


@pytest.mark.parametrize("command", ["replay", "validate"])
def test_an_override_that_cannot_apply_is_refused(log: Log, command: str) -> None:
    run = claire(command, "--database-url", log.url, "--set", "session.starting_equity=1")
    assert run.returncode == 2, run.stdout
    assert run.stderr.startswith("error: --set session.starting_equity: cannot apply here")
    assert len(run.stderr.strip().splitlines()) == 1 and not run.stdout
