"""A segment's manifest: what the signature vouches for, and the names of its files.

A segment is four files under `segments/` of the archive, named by its sequence range:

    000000000001-000001048576.parquet        the events (every column, canonical bytes, hashes)
    000000000001-000001048576.tree           Merkle nodes at TILE_HEIGHT (for fast proofs)
    000000000001-000001048576.index.parquet  event, correlation and causation ids -> sequence
    000000000001-000001048576.manifest.json  this document, signed; written last

Only a segment whose manifest exists counts: sealing writes the manifest last, under a
temporary name moved into place, so a crash leaves at most unreferenced files that the next
seal overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from claire.archive.location import ArchiveError, Location
from claire.audit.keys import fingerprint

FORMAT = "claire-archive-segment"
FORMAT_VERSION = 1
FOLDER = "segments"
MANIFEST_SUFFIX = ".manifest.json"
# Leaves per stored Merkle node (2**TILE_HEIGHT): a proof hashes at most this many rows.
TILE_HEIGHT = 8


def base_name(first: int, last: int) -> str:
    return f"{FOLDER}/{first:012d}-{last:012d}"


@dataclass(frozen=True, slots=True)
class FileRef:
    name: str  # relative to the archive root
    size: int
    sha256: str

    def to_document(self) -> dict[str, Any]:
        return {"name": self.name, "bytes": self.size, "sha256": self.sha256}

    @classmethod
    def of(cls, document: Any) -> FileRef:
        return cls(str(document["name"]), int(document["bytes"]), str(document["sha256"]))


@dataclass(frozen=True, slots=True)
class Manifest:
    first_sequence: int
    last_sequence: int
    prev_hash: str
    last_hash: str
    first_time: str
    last_time: str
    merkle_root: str
    data: FileRef
    tree: FileRef
    index: FileRef
    tile_height: int = TILE_HEIGHT
    statement: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def count(self) -> int:
        return self.last_sequence - self.first_sequence + 1

    @property
    def name(self) -> str:
        return base_name(self.first_sequence, self.last_sequence) + MANIFEST_SUFFIX

    @property
    def label(self) -> str:
        return f"segment {self.first_sequence}..{self.last_sequence}"

    @property
    def key_fingerprint(self) -> str | None:
        signer = self.statement.get("public_key")
        return fingerprint(signer) if isinstance(signer, str) else None

    def body(self) -> dict[str, Any]:
        """The document to sign (without key and signature)."""
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
            "count": self.count,
            "prev_hash": self.prev_hash,
            "last_hash": self.last_hash,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "merkle_root": self.merkle_root,
            "tile_height": self.tile_height,
            "files": {
                "data": self.data.to_document(),
                "tree": self.tree.to_document(),
                "index": self.index.to_document(),
            },
        }

    def to_document(self) -> dict[str, Any]:
        return dict(self.statement) if self.statement else self.body()


def parse_manifest(statement: Any, where: str) -> Manifest:
    """A manifest document, read (its signature is checked by `claire verify`, not here)."""
    if not isinstance(statement, dict):
        raise ArchiveError(f"{where}: expected a JSON object")
    try:
        if statement.get("format") != FORMAT:
            raise ValueError(f"format is {statement.get('format')!r}, expected {FORMAT!r}")
        if statement.get("version") != FORMAT_VERSION:
            raise ValueError(f"format version {statement.get('version')!r} is not supported")
        files = statement["files"]
        manifest = Manifest(
            first_sequence=int(statement["first_sequence"]),
            last_sequence=int(statement["last_sequence"]),
            prev_hash=str(statement["prev_hash"]),
            last_hash=str(statement["last_hash"]),
            first_time=str(statement["first_time"]),
            last_time=str(statement["last_time"]),
            merkle_root=str(statement["merkle_root"]),
            data=FileRef.of(files["data"]),
            tree=FileRef.of(files["tree"]),
            index=FileRef.of(files["index"]),
            tile_height=int(statement["tile_height"]),
            statement=statement,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveError(f"{where}: malformed manifest ({exc})") from None
    if manifest.count != statement.get("count") or manifest.count < 1:
        raise ArchiveError(
            f"{where}: count {statement.get('count')} does not match sequences "
            f"{manifest.first_sequence}..{manifest.last_sequence}"
        )
    return manifest


def read_manifest(location: Location, name: str) -> Manifest:
    data = location.read_bytes(name)
    try:
        statement = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ArchiveError(f"{name}: not JSON ({exc})") from None
    return parse_manifest(statement, name)


def manifest_names(location: Location) -> list[str]:
    return [f"{FOLDER}/{name}" for name in location.list(FOLDER) if name.endswith(MANIFEST_SUFFIX)]


def encode_manifest(statement: dict[str, Any]) -> bytes:
    return orjson.dumps(statement, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


__all__ = [
    "FOLDER",
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST_SUFFIX",
    "TILE_HEIGHT",
    "FileRef",
    "Manifest",
    "base_name",
    "encode_manifest",
    "manifest_names",
    "parse_manifest",
    "read_manifest",
]
