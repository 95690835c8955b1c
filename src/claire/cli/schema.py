"""`claire schema export` and `claire schema check`: the JSON Schemas of the event types and of
every version of their payloads, and whether the committed ones still describe the models."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer

from claire.audit.schema import events_schema, schema_files
from claire.audit.schema_check import COMMITTED, SchemaCheck, check_schemas
from claire.cli.common import JsonFlag, UsageError, console, fail, handle_errors, print_json

schema_app = typer.Typer(
    help="JSON Schema of the event types and their versions.", no_args_is_help=True
)


@schema_app.command("export")
@handle_errors
def schema_export(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="DIR|FILE",
            help=(
                "A .json file for the combined schema, or a directory for one file per type "
                "and one per payload version (versions/<type>/v<N>.schema.json)."
            ),
        ),
    ] = None,
    json: JsonFlag = False,
) -> None:
    """Write the JSON Schema of every event type and of every version of its payload.

    The role of the seed's event_sourcing_schema.yaml. Without --output it prints the
    combined schema of the current versions.

    Examples: claire schema export -o schema/ · claire schema export -o events.schema.json
    """
    if output is None:
        print_json(events_schema())
        return
    try:
        written = _write_schema(output)
    except OSError as exc:
        raise UsageError(f"--output {output}: {exc.strerror or exc}") from None
    if json:
        print_json({"files": [str(path) for path in written]})
    else:
        for path in written:
            console.print(f"Wrote {path}", markup=False)


def _write_schema(output: Path) -> list[Path]:
    option = orjson.OPT_INDENT_2
    if output.suffix == ".json" and not output.is_dir():
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_bytes(orjson.dumps(events_schema(), option=option) + b"\n")
        return [output]
    written = []
    for name, document in schema_files().items():
        path = output / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(document, option=option) + b"\n")
        written.append(path)
    return written


@schema_app.command("check")
@handle_errors
def schema_check(
    schemas: Annotated[
        Path,
        typer.Option(
            "--schemas",
            metavar="DIR",
            help="The committed schemas to compare with (written by `claire schema export`).",
            show_default="the copy shipped in claire/events/schemas",
        ),
    ] = COMMITTED,
    json: JsonFlag = False,
) -> None:
    """Fail (exit 1) when an event model changed without a new schema version and an upcaster,
    or the committed schemas are out of date. For CI: run it after changing payload models.

    Examples: claire schema check · claire schema check --schemas docs/schemas --json
    """
    if not schemas.is_dir():
        raise UsageError(f"--schemas {schemas}: not a directory (export the schemas into it)")
    report = check_schemas(schemas)
    if json:
        print_json(report.to_document())
        if not report.ok:
            raise typer.Exit(1)
        return
    _render(report)


def _render(report: SchemaCheck) -> None:
    versions = ", ".join(f"{kind} v{version}" for kind, version in report.versions.items())
    if report.ok:
        console.print(
            f"Schemas up to date: {report.files} files in {report.directory}", markup=False
        )
        console.print(f"  Current versions: {versions}", markup=False)
        return
    for problem in report.problems:
        console.print(f"{problem.file}: {problem.reason}", markup=False)
    fail(f"{len(report.problems)} schema problem(s) in {report.directory}")


def register(app: typer.Typer) -> None:
    app.add_typer(schema_app, name="schema")
