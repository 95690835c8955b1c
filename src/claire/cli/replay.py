"""`claire replay` (rebuild state, or what-if with --set) and `claire validate` (determinism)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from claire.cli.common import (
    EXIT_FAILURE,
    RULE,
    DatabaseUrl,
    JsonFlag,
    UsageError,
    console,
    err_console,
    fail,
    handle_errors,
    print_json,
    store_from,
)
from claire.cli.marks import render_marks, vouch_named
from claire.cli.ranges import (
    FromOption,
    SequenceOption,
    ToOption,
    parse_sequence_range,
    parse_time_range,
)
from claire.pipeline.config import PipelineConfigError, parse_overrides
from claire.replay.engine import ReplayEngine, ReplayResult
from claire.replay.pipelines import OverrideError, PipelineSpecError, VersionUnavailableError
from claire.replay.validate import INCOMPLETE, NO, CheckResult, ValidationReport, Validator
from claire.replay.verification import RecordedVerifications, record_verifications
from claire.replay.whatif import WhatIfReport, what_if
from claire.store.port import EventStore

# Nothing failed, but some decisions could not be re-executed (no pipeline for their version).
EXIT_INCOMPLETE = 3

NoSnapshots = Annotated[
    bool,
    typer.Option("--no-snapshots", help="Fold from the first event instead of a snapshot."),
]
VerifySnapshot = Annotated[
    bool,
    typer.Option(
        "--verify-snapshot",
        help="Check a snapshot nobody verified before using it: fold from the newest verified "
        "point before it (or the start) and compare hashes.",
    ),
]
RecordVerification = Annotated[
    bool,
    typer.Option(
        "--record-verification",
        help="Write: append a snapshot_verified alert for each snapshot this run verified, "
        "so replay and the recorder can say 'verified' (plain validate never writes).",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        help="Change a pipeline parameter (repeatable), e.g. --set risk.max_exposure_pct=0.10.",
    ),
]
PipelineOption = Annotated[
    str | None,
    typer.Option(
        "--pipeline",
        metavar="PIPELINE",
        help="Decision pipeline to re-execute: a name or code version registered in the "
        "entry point group claire.pipelines, or module:attribute (default: reference).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("replay")(replay)
    app.command("validate")(validate)


# --- commands ------------------------------------------------------------------------------------
@handle_errors
def replay(
    *,
    sequence: SequenceOption = None,
    start: FromOption = None,
    end: ToOption = None,
    no_snapshots: NoSnapshots = False,
    verify_snapshot: VerifySnapshot = False,
    overrides: SetOption = None,
    pipeline: PipelineOption = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Rebuild the system state by replaying a range of the log (or ask what-if with --set).

    Without a range the whole log is replayed. The replay starts from the latest snapshot at or
    below the range's start (the first written for that point) and folds only the delta
    (--no-snapshots folds from the start). The output says whether that snapshot was ever
    verified against a fold (claire validate --record-verification); --verify-snapshot checks
    it first.

    Examples:

      claire replay --sequence 1 10000

      claire replay --from 2025-02-10 --to 2025-02-15

      claire replay --sequence 5000 10000 --set risk.max_exposure_pct=0.10
    """
    changes = _overrides(overrides)
    with store_from(database_url) as store:
        engine = ReplayEngine(
            store, use_snapshots=not no_snapshots, verify_snapshot=verify_snapshot
        )
        first, last = parse_range(engine, sequence, start, end)
        if changes:
            report = _run_what_if(
                store,
                first,
                last,
                changes,
                pipeline=pipeline,
                use_snapshots=not no_snapshots,
                verify_snapshot=verify_snapshot,
                json=json,
            )
            document = report.to_document()
            named = vouch_named(store, document)
            if json:
                print_json(document)
            else:
                render_what_if(report)
                render_marks(named, _say)
            return
        if pipeline is not None:
            raise UsageError("--pipeline is used with --set (what-if); plain replay folds state")
        with progress_bar(not json, "replay") as progress:
            result = engine.replay(first, last, progress=progress)
        document = result.to_document()
        named = vouch_named(store, document)
    if json:
        print_json(document)
    else:
        render_replay(result)
        render_marks(named, _say)


@handle_errors
def validate(
    *,
    sequence: SequenceOption = None,
    start: FromOption = None,
    end: ToOption = None,
    pipeline: PipelineOption = None,
    overrides: SetOption = None,
    record_verification: RecordVerification = False,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Validate determinism of a range: replay twice, check snapshots, re-execute decisions.

    Each session (and each code version) in the range is re-executed with the configuration
    and the pipeline that recorded it. Exit code 0 only if all three checks pass, 1 if any
    fails, 3 if nothing failed but some decisions were made by a code version no registered
    pipeline re-executes. Without a range the whole log is validated. It never writes, unless
    --record-verification asks it to record the snapshots it verified (one snapshot_verified
    alert each, appended to the log).

    Examples:

      claire validate --sequence 1 1000

      claire validate --from 2025-02-14 --to 2025-02-14 --json

      claire validate --sequence 1 1000 --pipeline mybot.pipeline:make_pipeline
    """
    changes = _overrides(overrides)
    with store_from(database_url) as store:
        engine = ReplayEngine(store, use_snapshots=False)
        first, last = parse_range(engine, sequence, start, end)
        with _stage_progress(not json) as progress:
            try:
                report = Validator(
                    store, pipeline=pipeline, overrides=changes, progress=progress
                ).validate(first, last)
            except (OverrideError, PipelineSpecError) as exc:
                raise UsageError(str(exc)) from None
        recorded = _record_verification(store, report) if record_verification else None
        document = report.to_document()
        named = vouch_named(store, document)
    if json:
        if recorded is not None:
            document["verification_recorded"] = recorded.to_document()
        print_json(document)
    else:
        render_validation(report)
        if recorded is not None:
            render_recorded(recorded)
        render_marks(named, _say)
    if report.verdict == NO:
        raise typer.Exit(EXIT_FAILURE)
    if report.verdict == INCOMPLETE:
        raise typer.Exit(EXIT_INCOMPLETE)


def _record_verification(store: EventStore, report: ValidationReport) -> RecordedVerifications:
    """Only a fold that gave the same state twice vouches for the snapshots it matched."""
    if not report.check("replay_twice").passed:
        return RecordedVerifications([], 0)
    return record_verifications(store, report.matched_snapshots)


# --- parsing ------------------------------------------------------------------------------------
def _overrides(items: list[str] | None) -> dict[str, str]:
    try:
        return parse_overrides(list(items or []))
    except PipelineConfigError as exc:
        raise UsageError(f"--set: {exc}") from None


def parse_range(
    engine: ReplayEngine,
    sequence: tuple[int, int] | None,
    start: str | None,
    end: str | None,
) -> tuple[int, int]:
    sequences = parse_sequence_range(sequence)
    times = parse_time_range(start, end)
    if sequences is not None and times is not None:
        raise UsageError("give either --sequence A B or --from/--to, not both")
    if times is not None:
        return engine.resolve_time_range(times.start, times.end)
    if sequences is not None:
        return engine.resolve_sequence_range(sequences.first, sequences.last)
    return engine.resolve_sequence_range(1, None)


def _run_what_if(
    store: EventStore,
    first: int,
    last: int,
    changes: dict[str, str],
    *,
    pipeline: str | None,
    use_snapshots: bool,
    verify_snapshot: bool,
    json: bool,
) -> WhatIfReport:
    with progress_bar(not json, "what-if") as progress:
        try:
            return what_if(
                store,
                first,
                last,
                changes,
                pipeline=pipeline,
                use_snapshots=use_snapshots,
                verify_snapshot=verify_snapshot,
                progress=progress,
            )
        except (OverrideError, PipelineSpecError) as exc:
            raise UsageError(str(exc)) from None
        except VersionUnavailableError as exc:
            fail(str(exc), EXIT_INCOMPLETE)


# --- progress ------------------------------------------------------------------------------------
@contextmanager
def progress_bar(wanted: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A Rich progress bar on a terminal (stderr), nothing when piped or with --json."""
    if not wanted or not err_console.is_terminal:
        yield None
        return
    with _bar() as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@contextmanager
def _stage_progress(wanted: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if not wanted or not err_console.is_terminal:
        yield None
        return
    with _bar() as bar:
        tasks: dict[str, TaskID] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,} events"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


# --- rendering ------------------------------------------------------------------------------------
def _say(text: str = "", style: str | None = None) -> None:
    console.print(text, style=style, markup=False, soft_wrap=True)


def _banner(title: str) -> None:
    _say(RULE)
    _say(title, "bold")
    _say(RULE)


def render_replay(result: ReplayResult) -> None:
    document = result.to_document()
    _banner("REPLAY")
    _say(
        f"Range: {result.first_sequence} → {result.last_sequence} "
        f"({result.events_in_range:,} events)"
    )
    _say(f"Snapshot: {_snapshot_line(result)}")
    if result.snapshot_rejected:
        _say(f"  (snapshot not used: {result.snapshot_rejected})", "yellow")
    _say()
    _say("Events per type:")
    for kind, count in document["events_per_type"].items():
        _say(f"  {kind:<22} {count:>10,}")
    _say()
    risk = document["risk_state"]
    _say("Risk state:")
    _say(f"  Equity:          {risk['equity']}")
    _say(f"  Daily PnL:       {risk['daily_pnl']}")
    _say(f"  Total exposure:  {risk['total_exposure_pct']}")
    _say(f"  Open positions:  {risk['open_positions']}")
    _say(f"  Open orders:     {document['open_orders']}")
    _say()
    _say("Positions:" if document["positions"] else "Positions: none")
    for p in document["positions"]:
        _say(
            f"  {p['symbol']:<10} {p['side']:<4} size {p['size']}  entry {p['entry_price']}  "
            f"stop {p['stop_loss_price'] or '-'}  realised {p['realized_pnl']}  "
            f"unrealised {p['unrealized_pnl']}"
        )
    _say()
    _say(f"State hash: {document['state_hash']}")
    _say(
        f"Elapsed: {result.elapsed_seconds:.3f} s "
        f"({result.events_folded:,} events folded, {result.events_per_second:,.0f} events/s)"
    )
    blocked = sum(result.blocked_calls.values())
    _say(f"Blocked external calls: {blocked}")


def _snapshot_line(result: ReplayResult) -> str:
    if not result.snapshots_enabled:
        return "disabled (--no-snapshots): folded from the first event"
    if result.snapshot is None:
        return "none at or below the range start: folded from the first event"
    snap = result.snapshot
    return (
        f"state_snapshot at sequence {snap.sequence_number} (state as of sequence "
        f"{snap.at_sequence}), {snap.status()}; folded {result.events_folded:,} events after it"
    )


def render_recorded(recorded: RecordedVerifications) -> None:
    sequences = recorded.recorded
    where = f" at sequences {sequences[0]}..{sequences[-1]}" if sequences else ""
    _say(
        f"Recorded: {len(sequences)} snapshot verification(s) (snapshot_verified alerts{where});"
        f" {recorded.already} already recorded"
    )


def render_validation(report: ValidationReport) -> None:
    _banner("DETERMINISM VALIDATION")
    _say(f"Range: {report.first_sequence} → {report.last_sequence}")
    if report.verdict == NO:
        _say("Deterministic: ❌ NO", "bold red")
    elif report.verdict == INCOMPLETE:
        _say("Deterministic: ⚠️  NOT ESTABLISHED (some decisions not re-executed)", "yellow")
    else:
        _say("Deterministic: ✅ YES", "green")
    _say()
    _say("Checks:")
    for check in report.checks:
        mark = "✅" if check.passed else "❌"
        if check.passed and check.key == "decisions" and report.not_reexecuted:
            mark = "⚠️ "
        _say(f"  {mark} {check.title}: {check.summary}")
    parts = report.check("decisions").details["parts"]
    if len(parts) > 1 or report.not_reexecuted:
        _say()
        _say("Decisions per part (each with the code and configuration that recorded it):")
        for part in parts:
            _say(f"  {_part_line(part)}")
    if report.not_reexecuted:
        _say()
        _say("⚠️  NOT RE-EXECUTED:", "yellow")
        for missing in report.not_reexecuted:
            _say(f"  {missing.message}")
        _say(f"  Registered pipelines: {report.not_reexecuted[0].registered}")
    for check in report.checks:
        if not check.passed:
            _say()
            _render_failure(check)
    _say()
    _say(f"Elapsed: {report.elapsed_seconds:.3f} s")


def _render_failure(check: CheckResult) -> None:
    details = check.details
    if check.key == "replay_twice":
        _say("⚠️  STATE DIFFERENCES DETECTED:", "yellow")
        _say(_pretty(details["differences"]))
    elif check.key == "snapshots":
        _say("⚠️  SNAPSHOT MISMATCH:", "yellow")
        for failure in details["failures"]:
            if "sequence_number" in failure:
                _say(
                    f"  Snapshot at sequence {failure['sequence_number']} "
                    f"(state as of sequence {failure['at_sequence']})"
                )
                _say(f"    Recorded hash: {failure['recorded_hash']}")
                _say(f"    Replayed hash: {failure['replayed_hash']}")
                for problem in failure["problems"]:
                    _say(f"    - {problem}")
                if failure["differences"]:
                    _say(_indent(_pretty(failure["differences"]), 4))
            else:
                for problem in failure["problems"]:
                    _say(f"  - {problem}")
    else:
        _say("⚠️  DECISION DIVERGENCE DETECTED:", "yellow")
        _say(
            f"  Pipeline: {details['pipeline']} (config: {details['config_source']}, "
            f"hash {details['config_hash'][:12]}…)"
        )
        render_divergence(details["first_divergence"])


def render_divergence(divergence: dict[str, Any]) -> None:
    """The first divergent decision: where, what type, each field, and its causation chain."""
    kinds = {
        "changed": "recorded and replayed decisions differ",
        "missing": "recorded, but the replay did not make this decision",
        "extra": "made by the replay, but not recorded (would be at this sequence)",
        "error": "the pipeline raised an exception on this input",
    }
    _say(f"  First divergent sequence: {divergence['sequence_number']}")
    _say(f"  Event type: {divergence['event_type']} — {kinds.get(divergence['kind'], '')}")
    _say(f"  Input: market_data at sequence {divergence['input_sequence']}")
    _say("  Differences:")
    render_differences(divergence["differences"], "Recorded", "Replayed", indent=4)
    if divergence["causation_chain"]:
        _say("  Causation chain:")
        for link in divergence["causation_chain"]:
            where = f"seq {link['sequence_number']}" if link["sequence_number"] else "replay only"
            _say(f"    → {link['event_type']} ({where})")


def render_differences(
    differences: list[dict[str, Any]], left: str, right: str, *, indent: int
) -> None:
    """Field, then the value on each side, one row per differing field."""
    pad = " " * indent
    width = max([len(d["field"]) for d in differences] + [5])
    _say(f"{pad}{'Field':<{width}}  {left:<30}  {right}")
    for difference in differences:
        _say(
            f"{pad}{difference['field']:<{width}}  {_value(difference['recorded']):<30}  "
            f"{_value(difference['replayed'])}"
        )


def render_what_if(report: WhatIfReport) -> None:
    _banner("WHAT-IF REPLAY (nothing stored)")
    _say(f"Range: {report.first_sequence} → {report.last_sequence}")
    _say("Overrides: " + ", ".join(f"{k}={v}" for k, v in report.overrides.items()))
    if len(report.parts) == 1:
        _say(f"Configuration: {_config_change(report.parts[0])}")
    else:
        _say("Configuration (each session's own):")
        for part in report.parts:
            _say(f"  {_span(part)}: {_config_change(part)}")
    _say(f"Pipeline: {report.pipeline}")
    _say()
    _say(
        f"Decisions: {report.decisions_recorded:,} recorded, {report.decisions_whatif:,} "
        f"what-if, {report.decisions_changed:,} changed"
    )
    _say(
        f"Trades: {len(report.trades_recorded):,} recorded, {len(report.trades_whatif):,} "
        f"what-if; {len(report.trades_appeared)} appear, {len(report.trades_disappeared)} "
        "disappear"
    )
    for trade in report.trades_appeared:
        _say(f"  + {trade}", "green")
    for trade in report.trades_disappeared:
        _say(f"  - {trade}", "red")
    _say()
    _say(
        f"Equity (realised): recorded {report.recorded.equity}, what-if {report.whatif.equity}, "
        f"difference {report.pnl_difference}"
    )
    _say(
        f"Equity incl. unrealised: recorded {report.recorded.total}, what-if "
        f"{report.whatif.total}, difference {report.total_difference}"
    )
    if report.first_change is not None:
        _say()
        _say("⚠️  FIRST CHANGED DECISION:", "yellow")
        render_divergence(report.first_change.to_document())
    else:
        _say()
        _say("No decision changed.")


def _config_change(part: dict[str, Any]) -> str:
    recorded_hash = (part["recorded_config_hash"] or "?")[:12]
    return (
        f"{part['config_source']} (hash {recorded_hash}…) → what-if hash "
        f"{part['config_hash'][:12]}…"
    )


def _part_line(part: dict[str, Any]) -> str:
    version = part["code_version"] or "not recorded"
    if not part["reexecuted"]:
        return (
            f"⚠️  {_span(part)}: {part['decisions_recorded']} decision(s) of code version "
            f"{version}: no pipeline registered — not re-executed"
        )
    mark = "✅" if part["deterministic"] else "❌"
    return (
        f"{mark} {_span(part)}: {part['decisions_matched']} of {part['decisions_recorded']} "
        f"identical; code version {version} (pipeline {part['pipeline']}); config: "
        f"{part['config_source']} (hash {part['config_hash'][:12]}…)"
    )


def _span(part: dict[str, Any]) -> str:
    return f"{part['from_sequence']} → {part['to_sequence']}"


def _pretty(document: Any) -> str:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2, default=str).decode()


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=str).decode()


__all__ = [
    "EXIT_INCOMPLETE",
    "parse_range",
    "progress_bar",
    "register",
    "render_differences",
    "render_divergence",
    "render_replay",
    "render_validation",
    "render_what_if",
]
