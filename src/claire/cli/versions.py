"""`claire diff-versions`: which decisions a new pipeline version makes differently."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from claire.cli.common import (
    DatabaseUrl,
    JsonFlag,
    UsageError,
    handle_errors,
    print_json,
    store_from,
)
from claire.cli.ranges import FromOption, SequenceOption, ToOption
from claire.cli.replay import (
    NoSnapshots,
    _banner,
    _say,
    parse_range,
    progress_bar,
    render_differences,
)
from claire.replay.engine import ReplayEngine
from claire.replay.pipelines import PipelineSpecError
from claire.replay.versions import VersionDiffReport, diff_versions

SHOWN = 20  # differing decisions printed; --json lists up to claire.replay.versions.KEEP

PipelinesOption = Annotated[
    list[str],
    typer.Option(
        "--pipeline",
        metavar="PIPELINE",
        help="Give it twice: the old version, then the new one. A name or code version "
        "registered in the entry point group claire.pipelines, or module:attribute.",
    ),
]


def register(app: typer.Typer) -> None:
    app.command("diff-versions")(diff_versions_command)


@handle_errors
def diff_versions_command(
    *,
    pipelines: PipelinesOption,
    sequence: SequenceOption = None,
    start: FromOption = None,
    end: ToOption = None,
    no_snapshots: NoSnapshots = False,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Re-execute a range's recorded inputs with two pipeline versions; show what differs.

    Both start from the state the log records before the range, each part of the range with
    the configuration its session recorded. Nothing is stored. Run it before deploying a
    strategy change. Without a range the whole log is used.

    Examples:

      claire diff-versions --sequence 1 26581 --pipeline reference --pipeline mybot-v2

      claire diff-versions --from 2025-02-14 --pipeline bot-2.3.1 --pipeline mybot.v3:provider
    """
    if len(pipelines) != 2:
        raise UsageError(
            f"--pipeline: give it twice, the old version then the new one (got {len(pipelines)})"
        )
    old, new = pipelines
    with store_from(database_url) as store:
        engine = ReplayEngine(store, use_snapshots=not no_snapshots)
        first, last = parse_range(engine, sequence, start, end)
        with progress_bar(not json, "diff") as progress:
            try:
                report = diff_versions(
                    store,
                    first,
                    last,
                    old,
                    new,
                    use_snapshots=not no_snapshots,
                    progress=progress,
                )
            except PipelineSpecError as exc:
                raise UsageError(str(exc)) from None
    if json:
        print_json(report.to_document())
    else:
        render_version_diff(report)


def _named(document: dict[str, Any]) -> str:
    return f"{document['pipeline']} ({', '.join(document['code_versions']) or 'no code version'})"


def render_version_diff(report: VersionDiffReport) -> None:
    document = report.to_document()
    _banner("VERSION DIFF (nothing stored)")
    _say(f"Range: {report.first_sequence} → {report.last_sequence}")
    _say(f"Old: {_named(document['old'])}")
    _say(f"New: {_named(document['new'])}")
    for part in document["parts"]:
        _say(
            f"Configuration {part['from_sequence']} → {part['to_sequence']}: "
            f"{part['config_source']}"
        )
    _say()
    _say(
        f"Decisions: {document['decisions_old']:,} old, {document['decisions_new']:,} new, "
        f"{document['decisions_differ']:,} differ"
    )
    _say(
        f"Trades: {document['trades_old']:,} old, {document['trades_new']:,} new; "
        f"{len(report.trades_appeared)} appear, {len(report.trades_disappeared)} disappear"
    )
    for trade in report.trades_appeared:
        _say(f"  + {trade}", "green")
    for trade in report.trades_disappeared:
        _say(f"  - {trade}", "red")
    old, new = report.old_outcome, report.new_outcome
    _say(
        f"Equity (realised): old {old.equity}, new {new.equity}, difference {report.pnl_difference}"
    )
    _say()
    if not report.differences:
        _say("No decision differs.")
        return
    total = document["decisions_differ"]
    shown = report.differences[:SHOWN]
    more = f"; first {len(shown)} shown, --json lists up to {document['differences_listed']}"
    _say(f"DECISIONS THAT DIFFER ({total:,}{more if total > len(shown) else ''}):", "yellow")
    kinds = {
        "changed": "differs",
        "missing": "made by the old version only",
        "extra": "made by the new version only",
        "error": "a pipeline raised an exception",
    }
    for divergence in shown:
        _say(
            f"  Input at sequence {divergence.input_sequence}: {divergence.event_type} "
            f"{kinds.get(divergence.kind, divergence.kind)}"
        )
        if divergence.kind in ("changed", "error"):
            render_differences(
                [d.to_document() for d in divergence.differences], "Old", "New", indent=4
            )


__all__ = ["diff_versions_command", "register", "render_version_diff"]
