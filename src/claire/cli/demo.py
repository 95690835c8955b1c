"""`claire demo` (record a simulated trading day) and `claire record` (record a CSV file)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from claire.cli.common import (
    RULE,
    DatabaseUrl,
    JsonFlag,
    UsageError,
    console,
    handle_errors,
    print_json,
    store_from,
)
from claire.errors import StoreSchemaError
from claire.events.payloads import Symbol
from claire.pipeline.config import PipelineConfig, PipelineConfigError, load_config
from claire.pipeline.csv_source import CsvFormat, read_csv_rows
from claire.pipeline.recorder import SessionResult
from claire.pipeline.sessions import record_csv, record_demo
from claire.redact import redact_url
from claire.store.facade import default_url
from claire.store.locks import recording_lock
from claire.store.sqlite_schema import holds_a_store, path_from_url

FreshFlag = Annotated[
    bool,
    typer.Option(
        "--fresh",
        help="Delete the embedded SQLite store first and start empty (only a Claire store).",
    ),
]
VerifySnapshotFlag = Annotated[
    bool,
    typer.Option(
        "--verify-snapshot",
        help="Check the snapshot the state is rebuilt from if nobody verified it: fold from "
        "the newest verified point before it and compare hashes.",
    ),
]
MarketDataOption = Annotated[
    Path,
    typer.Option(
        "--market-data",
        help="CSV file: OHLCV bars (timestamp,open,high,low,close,volume) or ticks.",
        exists=False,
    ),
]
SymbolOption = Annotated[
    str, typer.Option("--symbol", help="Symbol the file is for, e.g. BTCUSDT.")
]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="Pipeline configuration file (JSON or TOML)."),
]
FormatOption = Annotated[
    CsvFormat,
    typer.Option("--format", help="bars: OHLCV rows; ticks: timestamp,price,volume rows."),
]
AppendOverlapFlag = Annotated[
    bool,
    typer.Option(
        "--append-overlap",
        help="Record bars even if bars for the same symbol and time are stored already.",
    ),
]
ColumnOption = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        metavar="NAME=HEADER",
        help="Map a column to the file's header (repeatable), e.g. --column timestamp=Date.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("record")(record)


@handle_errors
def demo(
    fresh: FreshFlag = False,
    verify_snapshot: VerifySnapshotFlag = False,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Record a simulated trading day (3 symbols, ~26,000 events) and show what to try next.

    Runs the reference pipeline (momentum signals, risk checks, paper fills, stop-losses) on
    synthetic market data. Running it again appends the next day; --fresh starts empty.

    Examples:

      claire demo

      claire demo --fresh --json
    """
    url = database_url or default_url()
    doomed = _checked_target(url, fresh=fresh)
    # Locked before --fresh deletes anything: a second recorder fails having touched nothing.
    with recording_lock(url):
        for path in doomed:
            path.unlink(missing_ok=True)
        with (
            store_from(url, create=True) as store,
            _progress(not json, "Recording demo day") as progress,
        ):
            result = record_demo(store, progress=progress, verify_snapshot=verify_snapshot)
    _report(result, url, database_url, json)


@handle_errors
def record(
    *,
    market_data: MarketDataOption,
    symbol: SymbolOption,
    config: ConfigOption = None,
    fmt: FormatOption = CsvFormat.BARS,
    column: ColumnOption = None,
    append_overlap: AppendOverlapFlag = False,
    verify_snapshot: VerifySnapshotFlag = False,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Record a session from a CSV file of market data through the reference pipeline.

    The whole file is read and checked first: a malformed row, rows out of time order or a
    timestamp that appears twice is reported with its line numbers and nothing is stored.
    Timestamps without a zone are UTC; a date alone is midnight. Bars already stored for the
    symbol and time are refused, naming the overlap (--append-overlap records them anyway).

    Examples:

      claire record --market-data btc_1m.csv --symbol BTCUSDT

      claire record --market-data ticks.csv --symbol ETHUSDT --format ticks --config risk.toml
    """
    _check_symbol(symbol)
    pipeline_config = _load_config(config)
    columns = _columns(column or [])
    url = database_url or default_url()
    _checked_target(url)
    # The whole file is read and checked before the store is created or locked: a file that
    # cannot be recorded leaves nothing behind.
    rows = read_csv_rows(market_data, symbol, fmt=fmt, columns=columns)
    with (
        recording_lock(url),
        store_from(url, create=True) as store,
        _progress(not json, f"Recording {symbol}") as progress,
    ):
        result = record_csv(
            store,
            market_data,
            symbol,
            fmt=fmt,
            columns=columns,
            config=pipeline_config,
            progress=progress,
            append_overlap=append_overlap,
            verify_snapshot=verify_snapshot,
            rows=rows,
        )
    _report(result, url, database_url, json)


# --- helpers -------------------------------------------------------------------------------------
def _check_symbol(symbol: str) -> None:
    """The symbol as every market_data payload must carry it, checked before anything is
    created or recorded (it failed in the first bar, with a traceback)."""
    from pydantic import TypeAdapter, ValidationError

    try:
        TypeAdapter(Symbol).validate_python(symbol)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"]
        raise UsageError(
            f"--symbol {symbol!r}: {reason} (1 to 40 letters, digits and . _ : / -, e.g. BTCUSDT)"
        ) from None


def _load_config(path: Path | None) -> PipelineConfig | None:
    if path is None:
        return None
    try:
        return load_config(path)
    except PipelineConfigError as exc:
        raise UsageError(f"--config: {exc}") from None


def _columns(items: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for item in items:
        name, sep, header = item.partition("=")
        if not sep or not name.strip() or not header.strip():
            raise UsageError(f"--column {item!r}: expected NAME=HEADER, e.g. timestamp=Date")
        mapping[name.strip().lower()] = header.strip()
    return mapping


def _checked_target(url: str, *, fresh: bool = False) -> list[Path]:
    """Refuse, before anything is locked or written, an embedded file that is not a Claire
    store; return what --fresh removes: the embedded store only (never any other file, and a
    server database is never dropped from here)."""
    if url.startswith("memory://"):
        return []
    if not url.startswith("sqlite://"):
        if fresh:
            raise UsageError(
                "--fresh only deletes the embedded SQLite store; events in a server database "
                "are immutable, so point --database-url at a new, empty database instead"
            )
        return []
    path = path_from_url(url)
    try:
        holds = holds_a_store(path)  # False: nothing there, or an empty database
    except StoreSchemaError as exc:
        raise StoreSchemaError(
            f"--fresh refuses to delete it: {exc}" if fresh else str(exc)
        ) from None
    if not (fresh and holds):
        return []
    return [Path(path + suffix) for suffix in ("", "-wal", "-shm")]


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A Rich progress bar on a terminal; nothing when piped or with --json."""
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("bars"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total or None)

        yield update


def _report(result: SessionResult, url: str, given_url: str | None, json: bool) -> None:
    commands = _next_commands(result, given_url)
    if json:
        document: dict[str, Any] = {
            "url": redact_url(url),
            **result.summary(),
            "next_commands": commands,
        }
        print_json(document)
        return
    summary = result.summary()
    console.print(RULE)
    console.print(f"SESSION RECORDED: {summary['session_id']}")
    console.print(RULE)
    interrupted = result.interrupted
    if interrupted is not None:
        console.print(
            f"⚠ Noted first (alert session_interrupted at sequence {interrupted.noted_at}): "
            f"{interrupted.describe()}",
            style="yellow",
            markup=False,
        )
    console.print(f"Store:     {redact_url(url)}", markup=False)
    console.print(f"Continues: {_origin_line(result)}", markup=False)
    console.print(
        f"Sequences: {summary['first_sequence']} → {summary['last_sequence']}"
        f"  ({summary['events']:,} events, {summary['snapshots']} snapshots)"
    )
    table = Table(title="Events per type", title_justify="left", show_edge=False)
    table.add_column("Event Type")
    table.add_column("Count", justify="right")
    for kind, count in summary["events_by_type"].items():
        table.add_row(kind, f"{count:,}")
    console.print(table)
    trades, pnl = summary["trades"], summary["pnl"]
    console.print(
        f"Trades:    {trades['approved']} approved, {trades['rejected']} rejected by risk, "
        f"{trades['stop_losses']} stop-loss exits, {trades['take_profits']} take-profit exits, "
        f"{trades['open_positions']} still open"
    )
    console.print(
        f"PnL:       {pnl['realized_after_fees']} realised after {pnl['fees']} fees "
        f"(equity {pnl['starting_equity']} → {pnl['ending_equity']}; "
        f"unrealised {pnl['unrealized']})"
    )
    console.print("\nNext, try:")
    for command in commands:
        console.print(f"  {command}", markup=False, highlight=False)


def _origin_line(result: SessionResult) -> str:
    if result.first_sequence == 1:
        return "an empty store"
    snap = result.started_from
    line = f"the log up to sequence {result.first_sequence - 1}"
    if snap is None:
        line += ", folded from the first event"
    else:
        line += (
            f", from the snapshot at sequence {snap.sequence_number} (state as of "
            f"{snap.at_sequence}): {snap.status()}"
        )
    if result.snapshot_rejected:
        line += f" (snapshot not used: {result.snapshot_rejected})"
    return line


def _next_commands(result: SessionResult, given_url: str | None) -> list[str]:
    suffix = ""
    if given_url and given_url != os.environ.get("DATABASE_URL"):
        # Masked: the password is the user's to type again, never ours to print.
        suffix = f" --database-url {redact_url(given_url)}"
    commands = []
    if result.example_decision_id is not None:
        commands.append(f"claire explain {result.example_decision_id}{suffix}")
    trade = result.example_correlation_id
    if trade is not None:
        commands.append(f"claire trace {trade}{suffix}")
    span = f"--sequence {result.first_sequence} {result.last_sequence}"
    commands += [
        f"claire stats{suffix}",
        f"claire validate {span}{suffix}",
        f"claire replay {span}{suffix}",
    ]
    return commands
