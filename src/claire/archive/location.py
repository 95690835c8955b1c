"""Where the archive lives: a local directory or any filesystem pyarrow reaches (s3://...).

`CLAIRE_ARCHIVE_URL` names it: a path (`/var/lib/claire/archive`), `file:///...`, or a URI that
`pyarrow.fs.FileSystem.from_uri` understands, e.g.
`s3://bucket/claire?region=eu-central-1` (credentials from the usual AWS environment variables,
or `endpoint_override=host:port&scheme=http` for an S3-compatible server). Everything written
goes through `Location`: files are written under a temporary name and moved into place, so a
file that exists is whole (on S3 a move is a server-side copy, itself atomic).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from claire.errors import ClaireError
from claire.redact import redact_text, redact_url

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

ARCHIVE_URL_ENV = "CLAIRE_ARCHIVE_URL"
KEEP_HOT_ENV = "CLAIRE_ARCHIVE_KEEP_HOT"
DEFAULT_KEEP_HOT = "30d"
_DURATION = re.compile(r"^\s*(\d+)\s*(d|h|m|w)\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNITS["w"] = timedelta(days=7)


class ArchiveError(ClaireError):
    """The archive cannot be reached, read or written, or is not what it claims to be."""


def archive_url_from_env() -> str | None:
    return os.environ.get(ARCHIVE_URL_ENV) or None


def parse_keep_hot(text: str, where: str = KEEP_HOT_ENV) -> timedelta:
    """'30d', '12h', '2w', '90m' -> a timedelta."""
    match = _DURATION.match(text)
    if match is None:
        raise ArchiveError(f"{where}={text!r}: expected a duration such as 30d, 12h, 2w or 90m")
    return int(match.group(1)) * _UNITS[match.group(2)]


@dataclass(frozen=True, slots=True)
class Location:
    """A directory on some filesystem; paths below it are '/'-separated and relative."""

    fs: pafs.FileSystem
    root: str
    url: str  # for messages: the password, if any, masked

    def path(self, name: str) -> str:
        return f"{self.root}/{name}" if self.root else name

    def list(self, folder: str) -> list[str]:
        """Names of the files directly in `folder` (relative to it), sorted; [] if none."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.path(folder), allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except OSError as exc:
            raise self.error(f"cannot list {folder}", exc) from None
        return sorted(i.base_name for i in infos if i.type == pafs.FileType.File)

    def exists(self, name: str) -> bool:
        import pyarrow.fs as pafs

        try:
            return bool(self.fs.get_file_info(self.path(name)).type == pafs.FileType.File)
        except OSError as exc:
            raise self.error(f"cannot look up {name}", exc) from None

    def read_bytes(self, name: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.path(name)) as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            raise ArchiveError(f"{name} is missing from the archive at {self.url}") from None
        except OSError as exc:
            raise self.error(f"cannot read {name}", exc) from None

    def open_input(self, name: str) -> pa.NativeFile:
        try:
            return self.fs.open_input_file(self.path(name))
        except FileNotFoundError:
            raise ArchiveError(f"{name} is missing from the archive at {self.url}") from None
        except OSError as exc:
            raise self.error(f"cannot open {name}", exc) from None

    def open_output(self, name: str) -> pa.NativeFile:
        try:
            self.fs.create_dir(self.path(name.rpartition("/")[0]), recursive=True)
            return self.fs.open_output_stream(self.path(name))
        except OSError as exc:
            raise self.error(f"cannot write {name}", exc) from None

    def write_atomic(self, name: str, data: bytes) -> None:
        """Write a whole file so that it exists complete or not at all."""
        temporary = f"{name}.partial-{os.getpid()}"
        with self.open_output(temporary) as out:
            out.write(data)
        self.move(temporary, name)

    def move(self, source: str, target: str) -> None:
        try:
            self.fs.move(self.path(source), self.path(target))
        except OSError as exc:
            raise self.error(f"cannot move {source} to {target}", exc) from None

    def delete(self, name: str) -> None:
        try:
            self.fs.delete_file(self.path(name))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self.error(f"cannot delete {name}", exc) from None

    def error(self, what: str, exc: BaseException) -> ArchiveError:
        return ArchiveError(f"archive {self.url}: {what}: {redact_text(str(exc))}")


def open_location(url: str) -> Location:
    """The archive directory a URL or path names (local directories are created on demand)."""
    try:
        import pyarrow.fs as pafs
    except ImportError:
        raise ArchiveError(
            "the archive needs pyarrow: pip install 'claire-eventstore[archive]'"
        ) from None
    shown = redact_url(url)
    if "://" not in url or url.startswith("file://"):
        local = Path(url.removeprefix("file://")).expanduser().resolve()
        return Location(pafs.LocalFileSystem(), local.as_posix(), shown)
    try:
        fs, root = pafs.FileSystem.from_uri(url)
    except (OSError, ValueError) as exc:
        raise ArchiveError(
            f"{ARCHIVE_URL_ENV} {shown!r} is not a directory or filesystem URI pyarrow can open: "
            f"{redact_text(str(exc))}"
        ) from None
    return Location(fs, root.rstrip("/"), shown)


__all__ = [
    "ARCHIVE_URL_ENV",
    "DEFAULT_KEEP_HOT",
    "KEEP_HOT_ENV",
    "ArchiveError",
    "Location",
    "archive_url_from_env",
    "open_location",
    "parse_keep_hot",
]
