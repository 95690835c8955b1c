"""`claire schema check`: do the committed JSON Schemas still describe the event models?

The committed schemas (`claire schema export -o DIR`, by default the copy shipped in
`claire/events/schemas/`) are the record of every payload version that was ever written. The
check fails when:

- a payload model changed (its JSON Schema, descriptions aside, differs from the committed one of
  its current version) without a new version: stored events of that version would be read with
  a model they were not written for;
- an older version's schema changed: history never changes, old events are read by it;
- a version has no upcaster to the next, or no payload model (see `SchemaVersions.problems`);
- a version of the code has no committed schema yet, or a committed one no version in the code;
- the other files (the combined and per-type event schemas) are out of date, descriptions
  included: re-export and commit them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from claire.audit.schema import schema_files, version_file
from claire.events.payloads import EventType
from claire.events.versioning import SchemaVersions
from claire.events.versions import VERSIONS

COMMITTED = Path(__file__).resolve().parents[1] / "events" / "schemas"
EXPORT_HINT = "claire schema export -o {directory}"
# Keywords that document a schema without constraining it.
ANNOTATIONS = frozenset({"title", "description", "examples", "$comment"})
# Keywords whose value maps names to schemas (the names are data, not keywords).
NAMED_SCHEMAS = frozenset({"properties", "patternProperties", "$defs", "definitions"})


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    file: str  # relative to the schema directory, or the module that declares versions
    reason: str

    def to_document(self) -> dict[str, str]:
        return {"file": self.file, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class SchemaCheck:
    directory: Path
    files: int
    versions: dict[str, int]  # event type -> current version
    problems: list[SchemaProblem]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_document(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": str(self.directory),
            "files": self.files,
            "current_versions": self.versions,
            "problems": [p.to_document() for p in self.problems],
        }


def check_schemas(directory: Path = COMMITTED, versions: SchemaVersions = VERSIONS) -> SchemaCheck:
    """Compare the schemas the models give now with the ones committed in `directory`."""
    hint = EXPORT_HINT.format(directory=directory)
    problems = [SchemaProblem("claire/events/versions.py", p) for p in versions.problems()]
    expected = schema_files(versions)
    version_of = {
        version_file(kind, version): (kind, version)
        for kind in EventType
        for version in versions.versions(kind)
    }
    for name, document in expected.items():
        committed = _load(directory / name)
        if isinstance(committed, SchemaProblem):
            reason = committed.reason
            if name in version_of:
                kind, version = version_of[name]
                reason += f": {kind.value} version {version} was never committed"
            problems.append(SchemaProblem(name, f"{reason} (run `{hint}` and commit it)"))
            continue
        if committed == document:
            continue
        where = _first_difference(_structure(committed), _structure(document))
        if name in version_of and where is not None:
            problems.append(SchemaProblem(name, _changed(*version_of[name], where, versions)))
        else:
            problems.append(
                SchemaProblem(name, f"out of date (run `{hint}` and commit the result)")
            )
    if directory.is_dir():  # what `schema export` writes; other files there are not ours
        for path in sorted(directory.rglob("*.schema.json")):
            name = path.relative_to(directory).as_posix()
            if name not in expected:
                problems.append(
                    SchemaProblem(
                        name,
                        "committed, but the code has no such schema (did a current version go "
                        "down, or an event type disappear?)",
                    )
                )
    return SchemaCheck(
        directory=directory,
        files=len(expected),
        versions={kind.value: versions.current[kind] for kind in EventType},
        problems=problems,
    )


def _changed(kind: EventType, version: int, where: str, versions: SchemaVersions) -> str:
    name = kind.value
    if version < versions.current[kind]:
        return (
            f"{name} version {version} is history and must never change, but its schema "
            f"differs at {where}: restore its model in claire/events/history.py"
        )
    return (
        f"{name} changed without a new schema version: its payload schema differs from the "
        f"committed version {version} at {where}. Declare {name}: {version + 1} in "
        f"claire/events/versions.py, keep the version {version} model in "
        f"claire/events/history.py, register an upcaster ({name}, from_version={version}), "
        "then export the schemas and commit them (see docs/versions.md)"
    )


def _load(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return SchemaProblem(path.name, "missing")
    except OSError as exc:
        return SchemaProblem(path.name, f"unreadable ({exc.strerror or exc})")
    except orjson.JSONDecodeError as exc:
        return SchemaProblem(path.name, f"not JSON ({exc})")


def _structure(node: Any, named: bool = False) -> Any:
    """The schema without its annotations (titles, descriptions): what constrains data."""
    if isinstance(node, dict):
        return {
            key: _structure(value, named=not named and key in NAMED_SCHEMAS)
            for key, value in node.items()
            if named or key not in ANNOTATIONS
        }
    if isinstance(node, list):
        return [_structure(item) for item in node]
    return node


def _first_difference(old: Any, new: Any, pointer: str = "") -> str | None:
    """The JSON pointer of the first place two documents differ (None when they are equal)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            if key not in old or key not in new:
                return f"{pointer}/{key}"
            found = _first_difference(old[key], new[key], f"{pointer}/{key}")
            if found is not None:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            found = _first_difference(a, b, f"{pointer}/{index}")
            if found is not None:
                return found
        return None
    return None if old == new else (pointer or "/")
