"""`claire sql "SELECT ..."`: SQL over the whole log (archive + hot store) with DuckDB."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from claire.archive.sql import run_sql
from claire.archive.store import ArchivedEventStore
from claire.cli.archive import ArchiveUrl, hot_part
from claire.cli.common import (
    DatabaseUrl,
    JsonFlag,
    UsageError,
    console,
    handle_errors,
    print_json,
    store_from,
)
from claire.events.values import format_utc


def _cell(value: Any) -> Any:
    return format_utc(value) if isinstance(value, datetime) else value


@handle_errors
def sql(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="A SQL query over the view `events`.")
    ],
    *,
    as_csv: Annotated[
        bool, typer.Option("--csv", help="Print CSV (a header line, then rows).")
    ] = False,
    archive_url: ArchiveUrl = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Run DuckDB SQL over the view `events`: the archive's segments and the hot store as one.

    Columns: sequence_number, event_id, event_type, timestamp_utc (UTC), timestamp_logical,
    causation_id, correlation_id, symbol, metadata and payload (JSON: payload->>'price'),
    prev_hash, hash.

    Example: claire sql "SELECT symbol, date_trunc('month', timestamp_utc) AS month, count(*)
    FROM events WHERE event_type = 'risk_decision' GROUP BY ALL ORDER BY ALL"
    """
    if json and as_csv:
        raise UsageError("give --json or --csv, not both")
    from claire.cli.archive import location_from

    with store_from(database_url) as store:
        location = (
            store.archive.location
            if isinstance(store, ArchivedEventStore)
            else (location_from(archive_url) if archive_url else None)
        )
        result = run_sql(hot_part(store), location, query)
    rows = [tuple(_cell(v) for v in row) for row in result.rows]
    if json:
        print_json([dict(zip(result.columns, row, strict=True)) for row in rows])
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(rows)
    else:
        from rich.table import Table

        table = Table(*result.columns, show_edge=False, header_style="bold")
        for row in rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        console.print(table)
        console.print(f"({len(rows)} row{'' if len(rows) == 1 else 's'})", markup=False)


def register(app: typer.Typer) -> None:
    app.command("sql")(sql)
