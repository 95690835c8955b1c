"""`claire archive seal | list`: move history into signed Parquet segments (docs/archive.md)."""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer

from claire.archive.catalog import Catalog
from claire.archive.location import (
    ARCHIVE_URL_ENV,
    DEFAULT_KEEP_HOT,
    KEEP_HOT_ENV,
    Location,
    open_location,
    parse_keep_hot,
)
from claire.archive.manifest import Manifest
from claire.archive.proof import (
    HotSource,
    check_subject,
    encode_bundle,
    make_bundle,
    newest_checkpoint,
)
from claire.archive.prune import prune
from claire.archive.reader import ArchiveReader
from claire.archive.seal import SEGMENT_EVENTS, seal
from claire.archive.store import ArchivedEventStore
from claire.audit.keys import fingerprint, public_hex, resolve_trusted_key, signing_key
from claire.cli.common import (
    DatabaseUrl,
    JsonFlag,
    UsageError,
    console,
    err_console,
    handle_errors,
    print_json,
    store_from,
)
from claire.cli.ranges import parse_instant, parse_uuid
from claire.errors import NotFoundError
from claire.gc_tuning import limit_malloc_arenas
from claire.redact import redact_url
from claire.store.port import EventStore

archive_app = typer.Typer(
    help="Sealed history: segments in Parquet with signed manifests (see docs/archive.md).",
    no_args_is_help=True,
)

ArchiveUrl = Annotated[
    str | None,
    typer.Option(
        "--archive-url",
        envvar=ARCHIVE_URL_ENV,
        show_envvar=True,
        metavar="URL",
        help="The archive: a directory, file://..., or s3://bucket/prefix (any pyarrow "
        "filesystem).",
    ),
]


def location_from(url: str | None) -> Location:
    if not url:
        raise UsageError(f"no archive: pass --archive-url URL or set {ARCHIVE_URL_ENV}")
    return open_location(url)


def hot_part(store: EventStore) -> EventStore:
    return store.hot if isinstance(store, ArchivedEventStore) else store


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)


def _last_to_seal(store: EventStore, through: int | None, before: str | None) -> int:
    """--through SEQ, --before TIME, or everything older than CLAIRE_ARCHIVE_KEEP_HOT."""
    if through is not None:
        return through
    if before is not None:
        return store.sequence_at(parse_instant(before, "--before") - timedelta(microseconds=1))
    keep = parse_keep_hot(os.environ.get(KEEP_HOT_ENV) or DEFAULT_KEEP_HOT)
    head = store.head().sequence_number
    newest = next(iter(store.read(head, head)), None) if head else None
    if newest is None:
        return 0
    # Recorded time, not the wall clock: the same log seals the same way on any day.
    return store.sequence_at(newest.timestamp_utc - keep)


@archive_app.command("seal")
@handle_errors
def seal_command(
    *,
    through: Annotated[
        int | None,
        typer.Option("--through", min=1, metavar="SEQ", help="Seal up to this sequence."),
    ] = None,
    before: Annotated[
        str | None,
        typer.Option("--before", metavar="TIME", help="Seal the events stamped before TIME (UTC)."),
    ] = None,
    segment_events: Annotated[
        int,
        typer.Option(
            "--segment-events",
            min=256,
            metavar="N",
            help="Events per segment (a multiple of 256).",
        ),
    ] = SEGMENT_EVENTS,
    archive_url: ArchiveUrl = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Copy the oldest events into signed Parquet segments in the archive.

    Seals from where the archive ends up to --through SEQ, up to the last event stamped before
    --before TIME, or (neither given) everything older than CLAIRE_ARCHIVE_KEEP_HOT (default
    30d) before the newest event. Idempotent and resumable: running it again continues after
    the last complete segment. The hot store is not changed (see `claire archive prune`).
    Manifests are signed with the checkpoint key (CLAIRE_CHECKPOINT_KEY).

    Examples: claire archive seal --through 1000000 --archive-url /srv/claire-archive ·
    CLAIRE_ARCHIVE_KEEP_HOT=7d claire archive seal --archive-url s3://bucket/claire
    """
    if through is not None and before is not None:
        raise UsageError("give --through SEQ or --before TIME, not both")
    limit_malloc_arenas()  # before the fetch thread starts: RSS stays flat over long ranges
    location = location_from(archive_url)
    signing = signing_key()  # a new key is written to disk before it signs a segment, not sooner
    key = signing.key
    with store_from(database_url) as opened:
        store = hot_part(opened)
        last = _last_to_seal(store, through, before)
        signing.keep()
        report = seal(store, location, last, key, segment_events=segment_events)
    if signing.created:
        err_console.print(
            f"New signing key created at {signing.path} (keep it safe)",
            markup=False,
            soft_wrap=True,
        )
    if json:
        print_json({**report.to_document(), "archive": location.url})
        return
    if not report.written:
        _say(f"Nothing to seal: the archive at {location.url} holds sequence 1 → {report.already}")
        return
    events = sum(m.count for m in report.written)
    _say(
        f"Sealed {events:,} events in {len(report.written)} segment"
        f"{'' if len(report.written) == 1 else 's'}: sequence {report.already + 1} → "
        f"{report.through} ({location.url})"
    )
    _say(f"  Manifests signed by key {fingerprint(public_hex(key))}")
    for manifest in report.written:
        _say(f"  {_describe(manifest)}")


@archive_app.command("prune")
@handle_errors
def prune_command(
    *,
    through: Annotated[
        int, typer.Option("--through", min=1, metavar="SEQ", help="Remove sequences 1..SEQ.")
    ],
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            metavar="FILE|HEX",
            help="The key the segments must be signed by (default: CLAIRE_CHECKPOINT_PUBLIC_KEY, "
            "else the local key pair).",
        ),
    ] = None,
    archive_url: ArchiveUrl = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Remove sealed events from the hot store, once the archive verifies against them.

    Every segment must verify (signed by the trusted key, files, rows, Merkle root) and hold
    the rows 1..SEQ byte for byte; the head always stays. Afterwards, read the store with
    CLAIRE_ARCHIVE_URL set: a pruned store is refused without its archive. On PostgreSQL,
    prune as the role that migrates the store (the writer role may not remove events).

    Example: claire archive prune --through 1048576 --archive-url /srv/claire-archive
    """
    location = location_from(archive_url)
    trusted = resolve_trusted_key(public_key)
    with store_from(database_url) as opened:
        store = hot_part(opened)
        assert archive_url is not None
        record = archive_url if redact_url(archive_url) == archive_url else None
        report = prune(store, location, through, trusted, record_url=record)
    if json:
        print_json({**report.to_document(), "archive": location.url})
        return
    if report.through == report.before:
        _say(f"Nothing to prune: the store is pruned through {report.before}")
        return
    _say(
        f"Pruned sequence {report.before + 1} → {report.through} from the hot store "
        f"({report.through - report.before:,} events; they live on in {location.url})"
    )
    _say("  Read the whole log with CLAIRE_ARCHIVE_URL set to the archive.")


def _describe(manifest: Manifest) -> str:
    return (
        f"{manifest.first_sequence} → {manifest.last_sequence}  {manifest.count:,} events  "
        f"{manifest.data.size:,} bytes  root {manifest.merkle_root[:16]}…  {manifest.data.name}"
    )


@archive_app.command("list")
@handle_errors
def list_command(archive_url: ArchiveUrl = None, json: JsonFlag = False) -> None:
    """List the archive's segments (from their manifests; `claire verify` checks them)."""
    location = location_from(archive_url)
    catalog = Catalog.load(location)
    if json:
        print_json(
            {
                "archive": location.url,
                "last_sequence": catalog.last_sequence,
                "segments": [m.to_document() for m in catalog.segments],
            }
        )
        return
    _say(f"Archive {location.url}: sequence 1 → {catalog.last_sequence}")
    for manifest in catalog.segments:
        _say(f"  {_describe(manifest)}")


CheckpointDir = Annotated[
    Path | None,
    typer.Option(
        "--checkpoints",
        envvar="CLAIRE_CHECKPOINT_DIR",
        show_envvar=True,
        metavar="DIR",
        help="Also prove events not sealed yet, against the newest signed checkpoint in DIR "
        "(from `claire checkpoint --dir DIR`); reads them from the store.",
    ),
]


@handle_errors
def prove(
    event_id: Annotated[
        str | None, typer.Argument(help="The event to prove (a UUID).", show_default=False)
    ] = None,
    *,
    correlation: Annotated[
        str | None,
        typer.Option("--correlation", metavar="ID", help="Prove every event of a trade."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write the bundle here (else stdout)."),
    ] = None,
    checkpoints: CheckpointDir = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            "--public-key",
            metavar="FILE|HEX",
            help="With --checkpoints: the key the checkpoint must be signed by (default: "
            "CLAIRE_CHECKPOINT_PUBLIC_KEY, else the local key pair).",
        ),
    ] = None,
    archive_url: ArchiveUrl = None,
    database_url: DatabaseUrl = None,
    json: JsonFlag = False,
) -> None:
    """Write an inclusion proof: the event's bytes, its Merkle path, the signed root.

    A sealed event is proven against its segment's signed manifest (the archive alone is read,
    no database). An event not sealed yet is proven against the newest signed checkpoint in
    --checkpoints DIR, whose Merkle tree covers the events after the archive (read from the
    store; write a checkpoint first if the event is newer). An auditor checks the bundle offline,
    with nothing but the bundle and the public key: `claire verify --proof FILE --public-key KEY`
    (or the verifier in docs/archive.md).

    Examples: claire prove 123e4567-e89b-12d3-a456-426614174000 -o trade.proof.json ·
    claire prove --correlation 987fcdeb-51a2-43d1-a123-456789abcdef --checkpoints ./checkpoints
    """
    if (event_id is None) == (correlation is None):
        raise UsageError("give an EVENT_ID or --correlation ID (one of them)")
    if not archive_url and checkpoints is None:
        raise UsageError(
            f"nothing to prove against: pass --archive-url URL (or set {ARCHIVE_URL_ENV}) for "
            "sealed events and/or --checkpoints DIR for events not sealed yet"
        )
    reader = ArchiveReader(location_from(archive_url)) if archive_url else None
    if correlation is not None:
        field_name, key = "correlation_id", parse_uuid(correlation, "--correlation")
    else:
        field_name, key = "event_id", parse_uuid(str(event_id), "EVENT_ID")
    sequences = reader.lookup(field_name, key) if reader is not None else []
    with ExitStack() as stack:
        hot: HotSource | None = None
        if checkpoints is not None and (correlation is not None or not sequences):
            store = stack.enter_context(store_from(database_url))
            sealed_end = reader.last_sequence if reader is not None else 0
            later = _hot_sequences(store, field_name, key, sealed_end)
            if later:
                trusted = resolve_trusted_key(public_key)
                hot = HotSource(store, newest_checkpoint(checkpoints, trusted))
                sequences = sorted({*sequences, *later})
        if not sequences:
            where = "sealed or stored" if checkpoints is not None else "sealed"
            raise NotFoundError(f"no {where} event has {field_name} {key}")
        bundle = make_bundle(reader, sequences, hot)
        check_subject(bundle, field_name, key)
    data = encode_bundle(bundle)
    if output is None:
        sys.stdout.buffer.write(data)
        return
    try:
        output.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"--output {output}: {exc.strerror or exc}") from None
    if json:
        print_json({"file": str(output), "sequences": sequences, "bytes": len(data)})
        return
    count = len(sequences)
    _say(f"Proof of {count} event{'' if count == 1 else 's'} written to {output}")
    for manifest in bundle["manifests"].values():
        _say(
            f"  segment {manifest['first_sequence']} → {manifest['last_sequence']}: Merkle root "
            f"{manifest['merkle_root']}, signed by key {manifest['key_fingerprint']}"
        )
    for statement in bundle.get("checkpoints", {}).values():
        _say(
            f"  checkpoint #{statement['number']} at sequence {statement['sequence_number']} "
            f"(tree {statement['tree_first_sequence']} → {statement['sequence_number']}): Merkle "
            f"root {statement['merkle_root']}, signed by key {fingerprint(statement['public_key'])}"
        )
    if reader is None or checkpoints is None:
        _say(
            "  Only sealed events were looked for (add --checkpoints DIR for events not sealed yet)"
            if checkpoints is None
            else "  No archive given: every event was proven against the checkpoint"
        )
    _say("Check it with: claire verify --proof FILE --public-key KEY")


def _hot_sequences(store: EventStore, field_name: str, key: UUID, sealed_end: int) -> list[int]:
    """The sequences after the archive whose `field_name` is `key`, from the store."""
    if field_name == "event_id":
        event = store.get(key)
        found = [event.sequence_number] if event is not None and event.sequence_number else []
    else:
        found = [e.sequence_number for e in store.read_correlation(key) if e.sequence_number]
    return [s for s in found if s > sealed_end]


def register(app: typer.Typer) -> None:
    app.add_typer(archive_app, name="archive")
    app.command("prove")(prove)
