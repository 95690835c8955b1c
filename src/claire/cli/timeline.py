"""`claire scene` and `claire explain --at TIME --symbol SYM`: ask the log by time and symbol.

Thin: parse, call claire.timeline, render the document in the seed's banner style (or print
it with --json: the same document `GET /scene` and `GET /explain` serve).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import typer

from claire.audit.summary import summarize
from claire.audit.vouch import MARK
from claire.cli.audit import field, grouped, header, render_explanation, say, section
from claire.cli.common import (
    DatabaseUrl,
    JsonFlag,
    UsageError,
    handle_errors,
    print_json,
    store_from,
)
from claire.events.model import BaseEvent
from claire.timeline.explain_at import ExplainAt, explain_at
from claire.timeline.lines import Verdicts, verdict_of
from claire.timeline.scene import Scene, build_scene
from claire.timeline.when import FORMS, TimeFormatError, human, parse_time

AtOption = Annotated[
    str | None,
    typer.Option(
        "--at",
        metavar="TIME",
        help=f"A time ({FORMS}); without an offset it is UTC.",
    ),
]
_OFFSET = re.compile(r"\d[+-]\d{2}(:?\d{2})?$")
SymbolOption = Annotated[
    str | None, typer.Option("--symbol", metavar="SYM", help="A symbol, e.g. BTCUSDT.")
]


def parse_at(text: str, option: str = "--at") -> datetime:
    try:
        return parse_time(text, option)
    except TimeFormatError as exc:
        raise UsageError(str(exc)) from None


def _asked(at: datetime | None, text: str | None) -> str:
    """The time as UTC, and what was typed when it carried an offset."""
    if at is None:
        return ""
    typed = (text or "").strip()
    return human(at) + (f" (asked: {typed})" if _OFFSET.search(typed) else "")


def _line(event: BaseEvent, checked: Verdicts) -> None:
    """One event: sequence, time, type, summary; the chain's warning after it if any."""
    say(
        f"  {event.sequence_number:>8}  {human(event.timestamp_utc)}  "
        f"{event.event_type.value:<17}{summarize(event)}",
        end="",
    )
    verdict = verdict_of(event, checked)
    say(f"  {verdict.mark}" if not verdict.verified else "", style="bold red")


def _as_of(event: BaseEvent) -> str:
    return f"sequence {event.sequence_number} ({human(event.timestamp_utc)})"


# --- scene -------------------------------------------------------------------------------------
def render_scene(scene: Scene, typed: str | None) -> None:
    moment = scene.moment
    title = _asked(moment.at, typed) if moment.at else f"sequence {moment.sequence}"
    header(f"SCENE AT {title}")
    say(f"As of: {_as_of(moment.event)}, the last event at or before it")
    snapshot = scene.replay.snapshot
    folded = f"{scene.replay.events_folded:,} events folded"
    if snapshot is not None:
        say(
            f"State: snapshot at sequence {snapshot.sequence_number} (state as of sequence "
            f"{snapshot.at_sequence}) + {folded}"
        )
        chain = scene.checked.get(snapshot.sequence_number)
        if chain is not None and not chain.verified:
            say(f"  {chain.mark}", style="bold red")
    else:
        say(f"State: {folded} from the start of the log")
    document: dict[str, Any] = scene.to_document()["state"]
    section("Account")
    field("Equity", grouped(document["equity"]))
    field("Daily PnL", document["daily_pnl"])
    field(
        "Exposure", f"{grouped(document['exposure'])} ({document['total_exposure_pct']} of equity)"
    )
    field("Unrealised PnL", document["unrealized_pnl"])
    field("Fees Paid", document["fees_paid"])
    section("Open Positions")
    for p in document["positions"]:
        stop = f", stop {p['stop_loss_price']}" if p["stop_loss_price"] else ""
        say(
            f"  {p['symbol']} {p['side']} {p['size']} @ {p['entry_price']}, last "
            f"{p['last_price']}, unrealised {p['unrealized_pnl']}{stop}"
        )
    if not document["positions"]:
        say("  (none)")
    section("Open Orders")
    for o in document["open_orders"]:
        say(f"  {o['order_id']}: {o['side']} {o['symbol']} size={o['size']}")
    if not document["open_orders"]:
        say("  (none)")
    section("Last Prices")
    for symbol, price in document["last_prices"].items():
        field(symbol, grouped(price))
    only = f" of {scene.symbol}" if scene.symbol else ""
    section(f"Last {len(scene.before)} Events{only} (up to the time)")
    for event in scene.before:
        _line(event, scene.checked)
    section(f"Next {len(scene.after)} Events{only}")
    for event in scene.after:
        _line(event, scene.checked)
    if not scene.after:
        say("  (none: this is the end of the log)")


@handle_errors
def scene(
    at: AtOption = None,
    sequence: Annotated[
        int | None, typer.Option("--sequence", min=1, metavar="N", help="As of sequence N.")
    ] = None,
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", metavar="SYM", help="List only this symbol's events."),
    ] = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """The whole bot as of a time: equity, PnL, exposure, positions, orders, prices.

    Built from the nearest snapshot and a fold of the events after it. Also lists the last 10
    events up to the time and the next 5 after it (with --symbol: that symbol's events; the
    state stays the whole bot's).

    Examples: claire scene --at "2025-02-14 13:05" · claire scene --at 2025-02-14T13:05:00+01:00
    --symbol BTCUSDT · claire scene --sequence 1555 --json
    """
    if (at is None) == (sequence is None):
        raise UsageError("give --at TIME or --sequence N")
    when = parse_at(at) if at is not None else None
    with store_from(database_url) as store:
        result = build_scene(store, at=when, sequence=sequence, symbol=symbol)
    if json:
        print_json(result.to_document())
    else:
        render_scene(result, at)


# --- explain --at ------------------------------------------------------------------------------
def render_explain_at(answer: ExplainAt, typed: str | None) -> None:
    symbol, moment = answer.symbol, answer.moment
    when = _asked(moment.at, typed) if moment.at else f"sequence {moment.sequence}"
    header(f"BACK TO THE SCENE: {symbol} at {when}")
    say(f"As of: {_as_of(moment.event)}, the last event at or before it")
    explained = answer.explanation
    position = answer.to_document()["position"]
    if position is not None:
        say(
            f"Position: OPEN, {position['side']} {position['size']} {symbol} @ "
            f"{position['entry_price']} (last price {position['last_price']}, unrealised "
            f"{position['unrealized_pnl']})",
            style="bold",
        )
        if explained is not None:
            say(
                f"Explained below: the decision that opened it (sequence "
                f"{explained.event.sequence_number})."
            )
    else:
        say(f"Position: none. No {symbol} position was open at {when}.", style="bold")
        if explained is not None:
            verdict = "approved" if explained.approved else "rejected"
            say(
                f"Explained below: the last decision on {symbol} at or before that time "
                f"(sequence {explained.event.sequence_number}, {verdict})."
            )
        else:
            say(f"No decision on {symbol} was made at or before that time.")
    if explained is not None:
        say()
        render_explanation(explained)
    outcome = answer.to_document()["outcome"]
    if outcome is not None:
        section("What Happened Since")
        if outcome["status"] == "closed":
            exit_kind = (outcome["exit"] or "other").replace("_", "-")
            say(
                f"  Closed at sequence {outcome['closed_at_sequence']} "
                f"({human(datetime.fromisoformat(outcome['closed_at_time']))}) by {exit_kind}: "
                f"{outcome['exit_reason']}"
            )
            say(f"  Realised PnL: {outcome['realized_pnl']} (fees on the trade: {outcome['fees']})")
            if outcome["verified"] is False:
                say(f"  {MARK}: {outcome['problem']}", style="bold red")
        else:
            say(f"  Still open at the end of the log (fees on the trade so far: {outcome['fees']})")
    section(f"Next Decision on {symbol}")
    if answer.next_decision is not None:
        _line(answer.next_decision, answer.checked)
    else:
        say("  (none after this time)")


def explain_at_command(
    at: str | None, symbol: str | None, database_url: str | None, json: bool
) -> None:
    """`claire explain --at TIME --symbol SYM` (called by the explain command)."""
    if at is None or symbol is None:
        raise UsageError("give both --at TIME and --symbol SYM (or an EVENT_ID alone)")
    when = parse_at(at)
    with store_from(database_url) as store:
        answer = explain_at(store, symbol, at=when)
    if json:
        print_json(answer.to_document())
    else:
        render_explain_at(answer, at)


def register(app: typer.Typer) -> None:
    app.command("scene")(scene)
