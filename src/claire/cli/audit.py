"""Read commands: explain, trace, stats, export (verify and schema: their own modules).

Each command parses its options, calls the audit layer, and renders: the seed's text blocks
(coloured on a terminal, plain when piped) or, with --json, one JSON document on stdout.
"""

from __future__ import annotations

import contextlib
import sys
from datetime import datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from claire.audit.explain import ChainLink, Explanation, RelatedEvent, explain_event
from claire.audit.export import Manifest, Selection, write_csv, write_jsonl, write_manifest
from claire.audit.export_verify import manifest_path
from claire.audit.keys import fingerprint, public_hex, signing_key
from claire.audit.stats import EventStats, event_stats
from claire.audit.summary import summarize
from claire.audit.trace import Trace, trace_correlation
from claire.audit.vouch import MARK, Verdict
from claire.cli.common import (
    RULE,
    DatabaseUrl,
    JsonFlag,
    UsageError,
    console,
    err_console,
    handle_errors,
    print_json,
    store_from,
)
from claire.cli.ranges import (
    FromOption,
    SequenceOption,
    ToOption,
    parse_end,
    parse_instant,
    parse_sequence_range,
    parse_time_range,
    parse_uuid,
)
from claire.errors import ClaireError, StoreError
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.events.versions import VERSIONS

TABLE_RULE = "-" * 64
_QUOTE_ASSETS = ("FDUSD", "USDT", "USDC", "BUSD", "USD", "EUR", "BTC", "ETH", "BNB")


# --- shared rendering helpers ------------------------------------------------------------------
def say(text: object = "", style: str | None = None, end: str = "\n") -> None:
    """Print user data literally (no Rich markup) and never wrap it (hashes stay one line)."""
    console.print(text, style=style, end=end, soft_wrap=True)


def human_time(moment: datetime) -> str:
    """The seed's timestamp form for people: 2025-02-14 13:05:00 (UTC), the year always in four
    digits (strftime's %Y prints year 1 as "1")."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="seconds")


def grouped(text: Any) -> str:
    """Decimal text with thousands separators, as the seed shows prices: 50,000 / 0.2."""
    try:
        value = Decimal(str(text))
    except InvalidOperation:
        return str(text)
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return format(value, ",f")


def split_symbol(symbol: str) -> tuple[str, str]:
    """BTCUSDT -> (BTC, USDT); ("", "") when the quote asset is not recognised."""
    for separator in ("/", "-", "_"):
        if separator in symbol:
            base, _, quote = symbol.partition(separator)
            return base, quote
    for quote in _QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return "", ""


def header(title: str) -> None:
    say(RULE, style="bold")
    say(title, style="bold cyan")
    say(RULE, style="bold")


def field(label: str, value: Any, style: str | None = None) -> None:
    say(f"  {label}: ", end="")
    say(str(value), style=style)


def section(title: str) -> None:
    say()
    say(f"{title}:", style="bold")


def _bool_style(value: Any) -> str:
    return "green" if value is True else "red"


# --- explain -----------------------------------------------------------------------------------
def _relation_note(item: RelatedEvent) -> str:
    # Causes are the natural direction of an explanation; only an effect needs saying.
    return " (effect)" if item.relation == "effect" else ""


def _render_event_block(event: BaseEvent) -> None:
    field("Event Type", event.event_type.value)
    field("Sequence", event.sequence_number)
    field("Timestamp", human_time(event.timestamp_utc))
    _render_schema_note(event)


def _render_schema_note(event: BaseEvent) -> None:
    """For an event stored in an older payload version: which, and that it is shown upcast."""
    stored, shown = event.stored_schema_version, event.metadata.schema_version
    if stored != shown:
        kind = event.event_type
        was = stored if stored is not None else f"none recorded, so {VERSIONS.recorded(kind, None)}"
        field("Schema Version", f"{was} as stored, shown as {shown} (see docs/versions.md)")


def _render_mark(verdict: Verdict, indent: str = "  ") -> None:
    """The warning under an event the chain cannot vouch for (nothing when it verifies)."""
    if not verdict.verified:
        say(f"{indent}{verdict.mark}", style="bold red")


def _render_decision(item: RelatedEvent) -> None:
    section(f"Decision{_relation_note(item)}")
    _render_mark(item.verdict)
    _render_event_block(item.event)
    payload = item.event.payload
    field("Approved", payload.get("approved"), _bool_style(payload.get("approved")))
    field("Reason", payload.get("reason"))
    if payload.get("position_size") is not None:
        field("Position Size", payload["position_size"])
    if payload.get("stop_loss_price"):
        field("Stop Loss", grouped(payload["stop_loss_price"]))


def _render_signal(item: RelatedEvent) -> None:
    payload = item.event.payload
    section(f"Signal{_relation_note(item)}")
    _render_mark(item.verdict)
    _render_schema_note(item.event)
    field("Symbol", payload.get("symbol"))
    field("Side", payload.get("side"))
    field("Confidence", payload.get("confidence"))
    field("Reason", payload.get("reason"))


def _render_market_data(item: RelatedEvent) -> None:
    payload = item.event.payload
    symbol = str(payload.get("symbol", ""))
    base, quote = split_symbol(symbol)
    section(f"Market Data{_relation_note(item)}")
    _render_mark(item.verdict)
    field("Symbol", symbol)
    field("Price", f"{grouped(payload.get('price'))} {quote}".rstrip())
    field("Volume", f"{grouped(payload.get('volume'))} {base}".rstrip())


def _render_risk(explanation: Explanation) -> None:
    decision = explanation.decision
    state = decision.event.payload.get("risk_state") if decision else None
    if state:
        section("Risk State")
        field("Equity", grouped(state.get("equity")))
        field("Daily PnL", state.get("daily_pnl"))
        field("Total Exposure", state.get("total_exposure_pct"))
        field("Open Positions", state.get("open_positions"))
    if explanation.risk_checks:
        section("Risk Checks")
        for check in explanation.risk_checks:
            verdict = "PASSED" if check.passed else ("FAILED" if check.checked else "SKIPPED")
            say(f"  {check.name}: ", end="")
            say(verdict, style="green" if check.passed else "red", end="")
            say(f" (value {check.current_value}, limit {check.limit})")


def _render_links(title: str, links: list[ChainLink], with_summary: bool) -> None:
    section(title)
    if not links:
        say("  (none)")
    for link in links:
        line = f"  → {link.event_type.value} (seq {link.sequence_number})"
        say(line + (f": {link.summary}" if with_summary else ""), end="")
        say(f"  {link.verdict.mark}" if not link.verdict.verified else "", style="bold red")


def _render_unverified(count: int, shown: int) -> None:
    if count:
        say(
            f"{MARK}: {count} of the {shown} events shown (marked below); "
            "run `claire verify` for the whole log",
            style="bold red",
        )


def render_explanation(explanation: Explanation) -> None:
    event = explanation.event
    header(f"DECISION EXPLANATION: {event.event_id}")
    _render_unverified(explanation.unverified, len(explanation.verdicts))
    if event.event_type is not EventType.RISK_DECISION:
        section("Event")
        _render_mark(explanation.verdict)
        _render_event_block(event)
        field("Summary", summarize(event))
    if explanation.decision:
        _render_decision(explanation.decision)
    if explanation.signal:
        _render_signal(explanation.signal)
    if explanation.market_data:
        _render_market_data(explanation.market_data)
    _render_risk(explanation)
    _render_links("Causation Chain", explanation.causation_chain, with_summary=False)
    _render_links("Effects", explanation.effects, with_summary=True)


@handle_errors
def explain(
    event_id: Annotated[
        str | None, typer.Argument(help="The event to explain (a UUID).", show_default=False)
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            metavar="TIME",
            help="Instead of an id: why the bot was in (or out of) --symbol at this time "
            "(2025-02-14 13:05, ...T13:05:00Z, ...+02:00; no offset means UTC).",
        ),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", metavar="SYM", help="The symbol for --at.")
    ] = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Explain an event: its decision, signal, market data, checks, chain and effects.

    Shows the risk checks with value and limit, the causation chain root first, and what the
    event caused (orders, fills, position changes). Works for any event type: an order
    result explains back through its order, decision, signal and market data.

    With --at TIME --symbol SYM instead of an id: if a position in SYM was open at TIME, the
    decision that opened it and what happened to the position since; if none was, the last
    decision on SYM at or before TIME; and the next decision after TIME.

    Examples: claire explain 123e4567-e89b-12d3-a456-426614174000 ·
    claire explain --at "2025-02-14 13:05" --symbol BTCUSDT
    """
    if at is not None or symbol is not None:
        if event_id is not None:
            raise UsageError("give an EVENT_ID or --at TIME --symbol SYM, not both")
        from claire.cli.timeline import explain_at_command  # it renders with this module

        explain_at_command(at, symbol, database_url, json)
        return
    if event_id is None:
        raise UsageError("give an EVENT_ID to explain, or --at TIME --symbol SYM")
    wanted = parse_uuid(event_id, "EVENT_ID")
    with store_from(database_url) as store:
        explanation = explain_event(store, wanted)
    if json:
        print_json(explanation.to_document())
    else:
        render_explanation(explanation)


# --- trace -------------------------------------------------------------------------------------
def render_trace(result: Trace) -> None:
    header(f"TRADE/SESSION TRACE: {result.correlation_id}")
    say(f"Total events: {result.total}")
    _render_unverified(result.unverified, result.total)
    for entry in result.entries:
        event = entry.event
        say()
        say(f"{entry.number}. ", end="")
        say(event.event_type.value, style="bold", end="")
        say(f" (seq {event.sequence_number})")
        _render_mark(entry.verdict, "   ")
        say(f"   Timestamp: {human_time(event.timestamp_utc)}")
        say(f"   {entry.summary}")


@handle_errors
def trace(
    correlation_id: Annotated[str, typer.Argument(help="The trade/session id (a UUID).")],
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Trace a trade or session: its events numbered in order, one summary line each.

    Lists every event with this correlation id, in sequence order.

    Example: claire trace 987fcdeb-51a2-43d1-a123-456789abcdef
    """
    wanted = parse_uuid(correlation_id, "CORRELATION_ID")
    with store_from(database_url) as store:
        result = trace_correlation(store, wanted)
    if json:
        print_json(result.to_document())
    else:
        render_trace(result)


# --- stats -------------------------------------------------------------------------------------
def render_stats(stats: EventStats) -> None:
    header(f"EVENT STATISTICS ({stats.title})")
    say(f"{'Event Type':<26}{'Count':<11}{'First Event':<21}Last Event", style="bold")
    say(TABLE_RULE)
    for row in stats.rows:
        say(
            f"{row.event_type:<26}{row.count:<11}{human_time(row.first):<21}{human_time(row.last)}",
        )
    if not stats.rows:
        say("(no events in this window)")
    say(TABLE_RULE)
    say(f"{'Total':<26}{stats.total}")


@handle_errors
def stats(
    since: Annotated[
        str | None, typer.Option("--since", metavar="DATE", help="Start (inclusive), UTC.")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--until", metavar="DATE", help="End (inclusive; a date is the whole day)."),
    ] = None,
    all_events: Annotated[bool, typer.Option("--all", help="Every stored event.")] = False,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Count events per type with the first and last event of each.

    By default the window is the last 24 hours of recorded time: the 24 hours up to the
    newest stored event (not up to now), so a recorded session reads the same tomorrow.

    Example: claire stats --since 2025-02-14 --until 2025-02-14
    """
    if all_events and (since or until):
        raise UsageError("--all cannot be combined with --since/--until")
    start = parse_instant(since, "--since") if since else None
    end = parse_end(until, "--until") if until else None
    if start is not None and end is not None and start >= end:
        raise UsageError(f"empty range: --since {since} is after --until {until}")
    with store_from(database_url) as store:
        result = event_stats(store, start, end, all_events=all_events)
    if json:
        print_json(result.to_document())
    else:
        render_stats(result)


# --- export ------------------------------------------------------------------------------------
class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


def _selection(
    sequence: tuple[int, int] | None,
    correlation: str | None,
    start: str | None,
    end: str | None,
) -> Selection:
    given = [sequence is not None, correlation is not None, start is not None or end is not None]
    if sum(given) != 1:
        raise UsageError("give exactly one of --sequence A B, --correlation ID, --from/--to")
    seq_range = parse_sequence_range(sequence)
    if seq_range is not None:
        return Selection(first=seq_range.first, last=seq_range.last)
    if correlation is not None:
        return Selection(correlation_id=parse_uuid(correlation, "--correlation"))
    time_range = parse_time_range(start, end, require=True)
    assert time_range is not None  # require=True never returns None
    return Selection(since=time_range.start, until=time_range.end)


@handle_errors
def export(
    *,
    sequence: SequenceOption = None,
    correlation: Annotated[
        str | None, typer.Option("--correlation", metavar="ID", help="One trade/session.")
    ] = None,
    start: FromOption = None,
    end: ToOption = None,
    output_format: Annotated[
        ExportFormat, typer.Option("--format", help="jsonl (default) or csv.")
    ] = ExportFormat.JSONL,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write here instead of stdout."),
    ] = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Export events with their hashes (JSON Lines or CSV), checkable on their own later.

    JSON Lines: one stored event per line (sequence_number, event_id, prev_hash, hash and the
    canonical event), then a manifest line with the selection, count and the runs of sequence
    numbers with their hashes, signed with the checkpoint key (created on first use, as by
    `claire checkpoint`). CSV: the same as columns; with --output the manifest is written to
    FILE.manifest.json (without --output a CSV export has no manifest and cannot be verified).
    With --output, the manifest is printed (--json: as JSON). Check it later, without the
    database, with `claire verify --export FILE --public-key HEX`.

    Examples: claire export --sequence 1 1000 -o audit.jsonl ·
    claire export --from 2025-02-10 --to 2025-02-15 --format csv -o feb.csv
    """
    selection = _selection(sequence, correlation, start, end)
    # The manifest is signed with the checkpoint key; a new one is written to disk only once the
    # export is (a failing export leaves no key behind).
    signing = signing_key()
    key = signing.key
    with store_from(database_url) as store:
        try:
            manifest = _write_export(store, selection, output_format, output, key)
            signing.keep()
        except BrokenPipeError:
            raise  # the reader went away (`| head`): the CLI ends quietly (see cli.app.main)
        except OSError as exc:  # --output cannot be opened or written: nothing of ours to remove
            if output is None:
                raise StoreError(
                    f"cannot write the export to stdout: {exc.strerror or exc}"
                ) from None
            raise UsageError(f"--output {output}: {exc.strerror or exc}") from None
        except ClaireError:
            # Nothing selected, or the new key could not be kept: no empty or partial file, and
            # none signed by a key nobody kept, is left behind.
            _discard(output, output_format)
            raise
    if signing.created:
        err_console.print(
            f"New signing key created at {signing.path} (keep it safe)",
            markup=False,
            soft_wrap=True,
        )
    if output is None:
        return
    if json:
        print_json(manifest.signed(key))
        return
    say(
        f"Exported {manifest.count} events (sequence {manifest.first_sequence} → "
        f"{manifest.last_sequence}) to {output}",
    )
    say(f"  Head hash: {manifest.head_hash}")
    say(f"  Manifest signed by key {fingerprint(public_hex(key))} (public key {public_hex(key)})")


def _discard(output: Path | None, output_format: ExportFormat) -> None:
    """Remove what a failed export wrote to --output (and a CSV export's manifest)."""
    if output is None:
        return
    for path in (output, manifest_path(output) if output_format is ExportFormat.CSV else None):
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


def _write_export(
    store: Any,
    selection: Selection,
    output_format: ExportFormat,
    output: Path | None,
    key: Any,
) -> Manifest:
    if output_format is ExportFormat.JSONL:
        if output is None:
            return write_jsonl(store, selection, sys.stdout.buffer, key)
        with output.open("wb") as handle:
            return write_jsonl(store, selection, handle, key)
    if output is None:
        return write_csv(store, selection, sys.stdout)
    with output.open("w", newline="", encoding="utf-8") as handle:
        manifest = write_csv(store, selection, handle)
    write_manifest(manifest_path(output), manifest, key)
    return manifest


def register(app: typer.Typer) -> None:
    """Add the read commands to the `claire` app."""
    from claire.cli.verify import verify  # it renders with this module's helpers

    app.command("explain")(explain)
    app.command("trace")(trace)
    app.command("stats")(stats)
    app.command("verify")(verify)
    app.command("export")(export)
