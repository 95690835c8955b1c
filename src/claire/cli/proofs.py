"""`claire verify --proof FILE`: check an inclusion proof bundle offline and show what it proves."""

from __future__ import annotations

from pathlib import Path

import typer

from claire.archive.proof import check_bundle, proven_summary
from claire.audit.keys import TrustedKey
from claire.cli.common import EXIT_FAILURE, UsageError, console, print_json


def check_proof_file(path: Path, trusted: TrustedKey, json: bool) -> None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"--proof {path}: {exc.strerror or exc}") from None
    report = check_bundle(data, trusted)
    if json:
        print_json({"file": str(path), **report.to_document()})
    elif report.ok:
        count = len(report.events)
        console.print(
            f"Proof OK: {count} event{'' if count == 1 else 's'} in the log, signed by key "
            f"{report.signed_by}",
            style="bold green",
            markup=False,
        )
        for line in proven_summary(report):
            console.print(f"  {line}", markup=False, soft_wrap=True)
    else:
        console.print(f"Proof FAILED: {path}", style="bold red", markup=False)
        for problem in report.problems:
            console.print(f"  Problem: {problem}", style="red", markup=False, soft_wrap=True)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)
