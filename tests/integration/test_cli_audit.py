"""The read commands through the real `claire` entry point, on SQLite and on PostgreSQL.

Each test records trades with the Python API, then runs `python -m claire ...` (or the installed
`claire` script) in a subprocess and checks what a user sees: the right decision, the right
chain, the right counts, the --json documents, and the error lines with their exit codes.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from claire.audit.export import read_jsonl_export
from claire.audit.export_verify import verify_export_records
from claire.audit.keys import resolve_trusted_key
from claire.events import BaseEvent, Side
from claire.store import open_store
from rigs.factories import factory, trade

CLAIRE_SCRIPT = Path(sys.executable).with_name("claire")


@dataclass(frozen=True)
class Recorded:
    url: str
    first: list[BaseEvent]  # market data, signal, decision, order, result, position
    second: list[BaseEvent]  # a rejected ETH trade: market data, signal, decision


def run(url: str, *args: str, script: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(CLAIRE_SCRIPT)] if script else [sys.executable, "-m", "claire"]
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def record(url: str) -> Recorded:
    f = factory(service="cdb_risk")
    first = trade(f)
    position = f.create_position_update(
        symbol="BTCUSDT",
        side=Side.BUY,
        status="OPENED",
        size="0.2",
        entry_price="50010",
        correlation_id=first[0].correlation_id,
        causation_id=first[4].event_id,
    )
    rejected_id = uuid.uuid4()
    md = f.create_market_data(
        symbol="ETHUSDT", price="2500", volume="800", correlation_id=rejected_id
    )
    sig = f.create_signal(
        symbol="ETHUSDT",
        side=Side.SELL,
        confidence="0.6",
        reason="Weak trend",
        price="2500",
        correlation_id=rejected_id,
        causation_id=md.event_id,
    )
    decision = f.create_risk_decision(
        approved=False,
        reason="Daily drawdown limit reached",
        symbol="ETHUSDT",
        side=Side.SELL,
        position_size="0",
        risk_state={
            "equity": "94000",
            "daily_pnl": "-6000",
            "total_exposure_pct": "0.10",
            "open_positions": 1,
        },
        risk_checks={
            "daily_drawdown": {
                "checked": True,
                "passed": False,
                "current_value": "-0.06",
                "limit": "-0.05",
            },
            "max_exposure": {
                "checked": True,
                "passed": True,
                "current_value": "0.10",
                "limit": "0.50",
            },
        },
        correlation_id=rejected_id,
        causation_id=sig.event_id,
    )
    with open_store(url, create=True) as store:
        store.append([*first, position])
        store.append([md, sig, decision])
    return Recorded(url, [*first, position], [md, sig, decision])


@pytest.fixture(params=["sqlite", "postgres"])
def recorded(request: pytest.FixtureRequest, tmp_path: Path) -> Recorded:
    if request.param == "sqlite":
        return record(f"sqlite:///{tmp_path / 'claire_events.db'}")
    return record(request.getfixturevalue("pg_url"))


def test_explain_shows_the_decision_its_inputs_checks_chain_and_effects(
    recorded: Recorded,
) -> None:
    decision = recorded.first[2]
    result = run(recorded.url, "explain", str(decision.event_id))

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"DECISION EXPLANATION: {decision.event_id}" in out
    for line in (
        "  Event Type: risk_decision",
        "  Sequence: 3",
        "  Timestamp: 2025-02-14 13:00:02",
        "  Approved: True",
        "  Reason: All risk checks passed",
        "  Confidence: 0.85",
        "  Reason: Strong momentum + high volume",
        "  Price: 50,000 USDT",
        "  Volume: 1,500 BTC",
        "  daily_drawdown: PASSED (value -0.01, limit -0.05)",
    ):
        assert line in out.splitlines(), line
    chain = out.split("Causation Chain:")[1].split("Effects:")[0].split()
    assert " ".join(chain) == (
        "→ market_data (seq 1) → signal_generated (seq 2) → risk_decision (seq 3)"
    )
    effects = out.split("Effects:")[1]
    assert "order_request (seq 4): BUY BTCUSDT size=0.2" in effects
    assert "order_result (seq 5): Status: FILLED, Filled: 0.2 @ 50010" in effects
    assert "position_update (seq 6): OPENED BUY BTCUSDT" in effects
    assert "\x1b[" not in out  # piped: plain text, no colour codes


def test_explain_rejected_decision_and_order_result_as_json(recorded: Recorded) -> None:
    rejected = run(recorded.url, "explain", str(recorded.second[2].event_id))
    assert "  Approved: False" in rejected.stdout.splitlines()
    assert "  daily_drawdown: FAILED (value -0.06, limit -0.05)" in rejected.stdout.splitlines()

    result = run(recorded.url, "explain", str(recorded.first[4].event_id), "--json")
    assert result.returncode == 0, result.stderr
    document = orjson.loads(result.stdout)  # the whole of stdout is one JSON document
    assert document["event"]["event_type"] == "order_result"
    assert document["decision"]["event_id"] == str(recorded.first[2].event_id)
    assert document["decision"]["payload"]["approved"] is True
    assert document["market_data"]["payload"]["price"] == "50000.0"
    assert [link["sequence_number"] for link in document["causation_chain"]] == [1, 2, 3, 4, 5]
    assert [link["event_type"] for link in document["effects"]] == ["position_update"]


def test_trace_numbers_every_event_of_the_trade(recorded: Recorded) -> None:
    correlation = recorded.first[0].correlation_id
    result = run(recorded.url, "trace", str(correlation), script=True)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert f"TRADE/SESSION TRACE: {correlation}" in lines
    assert "Total events: 6" in lines
    start = lines.index("1. market_data (seq 1)")
    assert lines[start : start + 3] == [
        "1. market_data (seq 1)",
        "   Timestamp: 2025-02-14 13:00:00",
        "   Symbol: BTCUSDT, Price: 50000.0",
    ]
    for expected in (
        "2. signal_generated (seq 2)",
        "   BUY BTCUSDT @ 0.85 confidence",
        "   Approved: True, Reason: All risk checks passed",
        "4. order_request (seq 4)",
        "   Status: FILLED, Filled: 0.2 @ 50010",
        "6. position_update (seq 6)",
    ):
        assert expected in lines, expected
    assert "ETHUSDT" not in result.stdout

    document = orjson.loads(run(recorded.url, "trace", str(correlation), "--json").stdout)
    assert document["total_events"] == 6
    assert [e["sequence_number"] for e in document["events"]] == [1, 2, 3, 4, 5, 6]


def test_stats_counts_per_type_over_recorded_time(recorded: Recorded) -> None:
    result = run(recorded.url, "stats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "EVENT STATISTICS (Last 24 hours)" in lines
    rows = {
        line.split()[0]: line.split()[1:]
        for line in lines
        if line.startswith(("market", "risk", "signal", "order", "position"))
    }
    assert rows["market_data"] == ["2", "2025-02-14", "13:00:00", "2025-02-14", "13:00:06"]
    assert rows["risk_decision"][0] == "2"
    assert rows["position_update"][0] == "1"

    document = orjson.loads(run(recorded.url, "stats", "--since", "2025-02-15", "--json").stdout)
    assert document["total"] == 0 and document["window"]["basis"] == "explicit"
    everything = orjson.loads(run(recorded.url, "stats", "--all", "--json").stdout)
    assert everything["total"] == 9


def test_verify_reports_head_then_names_an_edited_row(recorded: Recorded) -> None:
    ok = run(recorded.url, "verify", "--json")
    assert ok.returncode == 0, ok.stderr
    report = orjson.loads(ok.stdout)
    with open_store(recorded.url, create=True) as store:
        head = store.head()
    assert (report["ok"], report["head_sequence"], report["head_hash"]) == (True, 9, head.hash)
    assert f"Head: sequence 9, hash {head.hash}" in run(recorded.url, "verify").stdout

    _edit_payload(recorded.url, sequence=8)

    broken = run(recorded.url, "verify")
    assert broken.returncode == 1
    assert "Hash chain BROKEN at sequence 8" in broken.stdout
    assert "columns_mismatch" in broken.stdout
    document = orjson.loads(run(recorded.url, "verify", "--json").stdout)
    assert document["first_break"]["sequence_number"] == 8
    from_nine = run(recorded.url, "verify", "--from-sequence", "9")
    assert from_nine.returncode == 0 and "sequence 9 → 9" in from_nine.stdout


def _edit_payload(url: str, sequence: int) -> None:
    """A privileged user's edit with the immutability triggers out of the way."""
    if url.startswith("sqlite"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("DROP TRIGGER events_immutable_update")
        db.execute(
            "UPDATE events SET payload = json_set(payload, '$.confidence', '0.99')"
            " WHERE sequence_number = ?",
            (sequence,),
        )
        db.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE events SET payload = jsonb_set(payload, '{confidence}', '\"0.99\"')"
            " WHERE sequence_number = %s",
            (sequence,),
        )


def test_export_jsonl_and_csv_files_carry_a_checkable_chain(
    recorded: Recorded, tmp_path: Path
) -> None:
    target = tmp_path / "audit.jsonl"
    result = run(recorded.url, "export", "--sequence", "2", "8", "-o", str(target))
    assert result.returncode == 0, result.stderr
    assert "Exported 7 events (sequence 2 → 8)" in result.stdout
    records, manifest = read_jsonl_export(target.read_bytes().splitlines())
    assert manifest is not None and manifest["count"] == 7
    assert [r.sequence_number for r in records] == list(range(2, 9))
    assert verify_export_records(records, manifest, resolve_trusted_key()).ok

    by_trade = run(recorded.url, "export", "--correlation", str(recorded.second[0].correlation_id))
    lines = [orjson.loads(line) for line in by_trade.stdout.splitlines()]
    assert [line["sequence_number"] for line in lines[:-1]] == [7, 8, 9]
    assert lines[-1]["manifest"]["head_hash"] == lines[-2]["hash"]

    csv_file = tmp_path / "day.csv"
    by_day = run(
        recorded.url, "export", "--from", "2025-02-14", "--to", "2025-02-14",
        "--format", "csv", "-o", str(csv_file), "--json",
    )  # fmt: skip
    assert orjson.loads(by_day.stdout)["count"] == 9
    assert len(csv_file.read_text().splitlines()) == 10
    assert (
        orjson.loads(csv_file.with_name("day.csv.manifest.json").read_bytes())["manifest"][
            "last_sequence"
        ]
        == 9
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["explain", "not-a-uuid"], 2, "EVENT_ID: 'not-a-uuid' is not a UUID"),
        (["explain", "00000000-0000-4000-8000-000000000000"], 1, "no event with id"),
        (["trace", "00000000-0000-4000-8000-000000000000"], 1, "no events with correlation id"),
        (["export", "--sequence", "8", "2"], 2, "empty range, A (8) is greater than B (2)"),
        (["export", "--sequence", "50", "60"], 1, "no events in sequence range 50..60"),
        (["export", "--from", "2025-02-30"], 2, "--from: '2025-02-30' is not a valid date"),
        (["export", "--from", "yesterday"], 2, "'yesterday' is not a date or time"),
        (["export"], 2, "give exactly one of --sequence A B, --correlation ID, --from/--to"),
        (["stats", "--since", "2025-02-15", "--until", "2025-02-14"], 2, "empty range"),
        (["verify", "--from-sequence", "40"], 1, "the log ends at sequence 9"),
    ],
)
def test_errors_are_one_line_with_exit_code(
    tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    url = f"sqlite:///{tmp_path / 'errors.db'}"
    record(url)
    result = run(url, *args)
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr


def test_unreachable_database_is_one_line_exit_1() -> None:
    result = run("postgresql://postgres@127.0.0.1:9/nowhere", "verify")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot connect to PostgreSQL")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_help_explains_each_command_with_an_example() -> None:
    top = run("memory://", "--help")
    for name in ("explain", "trace", "stats", "verify", "export", "schema"):
        assert name in top.stdout
    for command in (
        ["explain"],
        ["trace"],
        ["stats"],
        ["verify"],
        ["export"],
        ["schema", "export"],
        ["schema", "check"],
    ):
        shown = run("memory://", *command, "--help")
        assert shown.returncode == 0 and "Example" in shown.stdout, command


def test_schema_export_writes_one_file_per_type(tmp_path: Path) -> None:
    result = run("memory://", "schema", "export", "-o", str(tmp_path / "schema"))
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "schema").iterdir())
    assert "events.schema.json" in names and "risk_decision.schema.json" in names
    assert len(names) == 10  # the combined schema, one per type, and versions/
    assert (tmp_path / "schema" / "versions" / "risk_decision" / "v1.schema.json").is_file()
    printed = orjson.loads(run("memory://", "schema", "export").stdout)
    assert printed["$defs"]["risk_decision_event"]["properties"]["event_type"] == {
        "const": "risk_decision"
    }


def test_schema_check_passes_on_a_fresh_export_and_names_a_changed_model(tmp_path: Path) -> None:
    exported = tmp_path / "schema"
    assert run("memory://", "schema", "export", "-o", str(exported)).returncode == 0
    checked = run("memory://", "schema", "check", "--schemas", str(exported))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith(f"Schemas up to date: 19 files in {exported}")
    committed = exported / "versions" / "order_result" / "v1.schema.json"
    document = orjson.loads(committed.read_bytes())
    del document["properties"]["fee"]
    committed.write_bytes(orjson.dumps(document))
    failed = run("memory://", "schema", "check", "--schemas", str(exported))
    assert failed.returncode == 1
    assert failed.stdout.startswith(
        "versions/order_result/v1.schema.json: order_result changed without a new schema "
        "version: its payload schema differs from the committed version 1 at /properties/fee."
    )
    assert failed.stderr == f"error: 1 schema problem(s) in {exported}\n"
    as_json = orjson.loads(
        run("memory://", "schema", "check", "--schemas", str(exported), "--json").stdout
    )
    assert (
        as_json["ok"] is False
        and as_json["problems"][0]["file"] == committed.relative_to(exported).as_posix()
    )
    missing = run("memory://", "schema", "check", "--schemas", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "not a directory" in missing.stderr
