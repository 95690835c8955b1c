"""`claire checkpoint --dir DIR`: sign the log's current head and keep it outside the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claire.audit.checkpoint import write_checkpoint
from claire.audit.keys import SigningKeyError, fingerprint, signing_key
from claire.cli.common import (
    DatabaseUrl,
    JsonFlag,
    UsageError,
    console,
    handle_errors,
    print_json,
    store_from,
)


@handle_errors
def checkpoint(
    directory: Annotated[
        Path,
        typer.Option(
            "--dir",
            metavar="DIR",
            help="Where to write the checkpoint (keep it off the database host).",
            file_okay=False,
        ),
    ],
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Write a signed checkpoint (sequence number, head hash, time) of the log into DIR.

    It also signs the RFC 6962 Merkle root over the events after the archive (all events when
    no archive is configured), so `claire prove --checkpoints DIR` can prove events not sealed
    yet; the tree is extended from the previous checkpoint's, not rehashed.

    The Ed25519 key comes from CLAIRE_CHECKPOINT_KEY (a PEM file), or is created on first use
    at ~/.config/claire/checkpoint_ed25519.pem ($XDG_CONFIG_HOME respected). Later,
    `claire verify --checkpoints DIR` detects a truncated tail, a history rewritten with
    recomputed hashes, or a database restored from an older backup. Each checkpoint names its
    predecessor (number and digest), so a deleted or replaced file shows too. Give auditors the
    printed public key: `claire verify --public-key HEX` trusts only checkpoints signed with it.

    Example: claire checkpoint --dir /var/lib/claire/checkpoints
    """
    # A new key is written to disk only with the first checkpoint it signed: a failing command
    # (no store, an unwritable --dir) leaves no key behind.
    signing = signing_key()
    path, created = signing.path, signing.created
    with store_from(database_url) as store:
        try:
            written = write_checkpoint(store, directory, key=signing.key)
        except OSError as exc:  # the directory cannot be made or written
            raise UsageError(f"--dir {directory}: {exc.strerror or exc}") from None
    try:
        signing.keep()
    except SigningKeyError:  # no checkpoint may carry a signature by a key nobody kept
        if written.path is not None:
            written.path.unlink(missing_ok=True)
        raise
    document = {
        **written.to_document(),
        "key_fingerprint": fingerprint(written.public_key),
        "key_file": str(path),
        "key_created": created,
    }
    if json:
        print_json(document)
        return
    console.print(f"Checkpoint written: {written.path}", style="bold green", markup=False)
    console.print(f"  Number:     #{written.number}", markup=False)
    console.print(f"  Sequence:   {written.sequence_number}", markup=False)
    console.print(f"  Head hash:  {written.head_hash}", markup=False)
    if written.tree is not None:
        span = (
            f"sequence {written.tree.first} → {written.sequence_number}"
            if written.tree.size
            else "no event (the log is empty)"
            if written.sequence_number == 0
            else "no event (all sealed)"
        )
        console.print(f"  Merkle:     {written.tree.root} over {span}", markup=False)
    console.print(f"  Time:       {written.created_at}", markup=False)
    console.print(f"  Store:      {written.store}", markup=False)
    console.print(
        f"  Public key: {written.public_key} ({fingerprint(written.public_key)})", markup=False
    )
    console.print(f"  Signature:  {written.signature}", markup=False)
    if created:
        console.print(f"  New signing key created at {path} (keep it safe)", markup=False)


def register(app: typer.Typer) -> None:
    app.command("checkpoint")(checkpoint)
