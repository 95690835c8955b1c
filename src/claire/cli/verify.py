"""`claire verify`: the chain, and with --checkpoints / --export the signatures, in one verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claire.archive.location import archive_url_from_env
from claire.archive.store import ArchivedEventStore
from claire.archive.verify import verify_with_archive
from claire.audit.checkpoint_verify import add_checkpoint_findings, default_witness_path
from claire.audit.export_verify import verify_export_file
from claire.audit.keys import resolve_trusted_key
from claire.audit.verify import VerifyReport, verify_log
from claire.cli.audit import say
from claire.cli.common import (
    EXIT_FAILURE,
    DatabaseUrl,
    JsonFlag,
    UsageError,
    handle_errors,
    print_json,
    store_from,
)
from claire.cli.proofs import check_proof_file


def render_verify(report: VerifyReport) -> None:
    """One verdict: OK, BROKEN at the first unvouched sequence, or FAILED (another check)."""
    broken = report.first_break
    if report.ok:
        say("Hash chain OK", style="bold green")
        span = (
            f"sequence {report.from_sequence} → {report.last_sequence}"
            if report.checked
            else "the log is empty"
            if report.last_sequence == 0
            else f"nothing from sequence {report.from_sequence} on"
        )
        say(f"  Checked: {report.checked} events ({span})")
        say(f"  Head: sequence {report.last_sequence}, hash {report.last_hash}")
    elif broken is not None:
        say(f"Hash chain BROKEN at sequence {broken.sequence_number}", style="bold red")
        say(f"  Problem: {broken.problem.value}: {broken.message}")
        say(f"  Intact: {_intact(report)}")
    else:
        say("Verification FAILED", style="bold red")
        if report.checked:
            say(f"  Hash chain intact: {_intact(report)}; the checks below fail")
    _render_signed(report)
    for problem in report.extra_problems:
        say(f"  Problem: {problem}", style="red")


def _render_signed(report: VerifyReport) -> None:
    """What the signatures that were checked vouch for, and by whose key."""
    signed_by = report.extra.get("manifest_signed_by")
    if signed_by:
        runs = report.extra["manifest"]["runs"]
        say(
            f"  Manifest: {report.extra['manifest']['count']} events in {len(runs)} "
            f"run{'' if len(runs) == 1 else 's'}, signed by key {signed_by}"
        )
    archive = report.extra.get("archive")
    if archive:
        say(f"  Archive: {archive['summary']}")
    checkpoints = report.extra.get("checkpoints")
    if checkpoints:
        say(f"  Checkpoints: {checkpoints['summary']}")
        uncovered = checkpoints.get("uncovered")
        if uncovered:
            say(
                f"  Not yet checkpointed: sequence {uncovered['from_sequence']} → "
                f"{uncovered['to_sequence']} (only the chain vouches for it)"
            )


def _intact(report: VerifyReport) -> str:
    """The range before the first break (the break itself is never in it)."""
    last = report.last_sequence
    if last is None or last < report.from_sequence:
        return f"none (the break is at the first checked sequence, {report.from_sequence})"
    return f"sequence {report.from_sequence} → {last} ({report.checked} events)"


@handle_errors
def verify(
    *,
    from_sequence: Annotated[
        int,
        typer.Option(
            "--from-sequence",
            min=1,
            metavar="N",
            help="Start at sequence N (its previous hash is taken from record N-1).",
        ),
    ] = 1,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            metavar="DIR",
            help="Also check the log against every signed checkpoint in DIR "
            "(detects a truncated tail, rewritten history, an older backup).",
        ),
    ] = None,
    export: Annotated[
        Path | None,
        typer.Option(
            "--export",
            metavar="FILE",
            help="Verify an export file (from `claire export`) on its own, without the database.",
        ),
    ] = None,
    proof: Annotated[
        Path | None,
        typer.Option(
            "--proof",
            metavar="FILE",
            help="Check an inclusion proof (from `claire prove`) offline: no log, no database.",
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            metavar="FILE|HEX",
            help="The trusted public key signatures must carry (default: "
            "CLAIRE_CHECKPOINT_PUBLIC_KEY, else the local key pair).",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Verify the hash chain and the sequence; name the first bad sequence number.

    Checks sequence numbers gapless and in order, every hash recomputed from the stored event
    bytes, every row's columns equal to the hashed event, and every row's hash equal to what the
    next row committed to. With --checkpoints DIR, the log must also still hold every signed
    checkpoint's sequence and hash. With --export FILE, the export is checked instead of the
    database. Signatures count only from the trusted key (--public-key FILE|HEX,
    CLAIRE_CHECKPOINT_PUBLIC_KEY, or the local key pair); without one, --checkpoints and
    --export refuse to run. Reports OK with the head hash, or the first bad sequence (exit 1).

    Examples: claire verify · claire verify --checkpoints ./checkpoints ·
    claire verify --export audit.jsonl --public-key 3b6a27bc…
    """
    if proof is not None:
        check_proof_file(proof, resolve_trusted_key(public_key), json)
        return
    if export is not None:
        report = verify_export_file(
            export, resolve_trusted_key(public_key), checkpoints=checkpoints
        )
    else:
        if public_key is not None and checkpoints is None and not archive_url_from_env():
            raise UsageError(
                "--public-key checks signatures: use it with --checkpoints or --export, or with "
                "an archive (CLAIRE_ARCHIVE_URL)"
            )
        # Refuse before touching the store: signatures are checked only against a trusted key.
        trusted = resolve_trusted_key(public_key) if checkpoints or archive_url_from_env() else None
        with store_from(database_url) as store:
            if isinstance(store, ArchivedEventStore):
                assert trusted is not None
                report = verify_with_archive(store, trusted, from_sequence)
            else:
                report = verify_log(store, from_sequence)
            if checkpoints is not None:
                assert trusted is not None
                add_checkpoint_findings(
                    report, store, checkpoints, trusted, witness=default_witness_path()
                )
    if json:
        print_json(report.to_document())
    else:
        render_verify(report)
    if not report.ok:
        raise typer.Exit(EXIT_FAILURE)
