"""`claire checkpoint --dir DIR`: sign the log's current head and keep it outside the database."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from claire.audit.checkpoint import write_checkpoint
from claire.audit.keys import fingerprint, key_path, load_or_create_key
from claire.cli.common import DatabaseUrl, JsonFlag, console, handle_errors, print_json, store_from


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
    path = key_path()
    created = not path.exists()
    key = load_or_create_key(path)
    with store_from(database_url) as store:
        written = write_checkpoint(store, directory, key=key)
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
