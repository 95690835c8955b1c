"""The machinery of schema versions: which payload model each version of an event type has, and
the upcasters that turn a payload of one version into the next version's.

An event records the schema version of its payload in `metadata.schema_version`. An event that
records none was stored before versions were recorded: its version is the type's `unversioned`
version (by default 1), declared once and never changed afterwards. The stored bytes of an event
never change: readers upcast an old payload, step by step, into the current version when they
decode it (`claire.events.codec`). The versions Claire's own event types are at, and their
upcasters, are declared in `claire.events.versions`; this module knows nothing of them, so tests
can build registries of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from claire.errors import StoreError
from claire.events.payloads import EventType, Payload

UNVERSIONED = 1  # the version of an event that records none, unless its type declares another

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class SchemaVersionError(StoreError):
    """An event's schema version is one this code cannot read (newer than it knows, or with no
    way to upcast it)."""


class SchemaVersions:
    """The schema versions of the event types: current version, payload model of every version,
    and the upcaster registered for each (event type, from-version)."""

    def __init__(
        self,
        current: Mapping[EventType, int],
        current_models: Mapping[EventType, type[Payload]],
        history: Mapping[tuple[EventType, int], type[Payload]] | None = None,
        unversioned: Mapping[EventType, int] | None = None,
    ) -> None:
        for kind, version in current.items():
            if not isinstance(version, int) or version < 1:
                raise ValueError(f"{kind.value}: a schema version is an integer >= 1")
        self.current: Mapping[EventType, int] = dict(current)
        self._unversioned: dict[EventType, int] = {kind: UNVERSIONED for kind in self.current}
        for kind, version in (unversioned or {}).items():
            if not isinstance(version, int) or not 1 <= version <= self.current[kind]:
                raise ValueError(
                    f"{kind.value}: the version of events recording none must be a version "
                    f"from 1 to the current {self.current[kind]}"
                )
            self._unversioned[kind] = version
        self._models: dict[tuple[EventType, int], type[Payload]] = dict(history or {})
        for kind, model in current_models.items():
            self._models[(kind, self.current[kind])] = model
        self._upcasters: dict[tuple[EventType, int], Upcaster] = {}
        self._since: dict[tuple[EventType, int], frozenset[str]] = {}

    # --- registration ------------------------------------------------------------------------
    def upcaster(self, kind: EventType, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register the decorated function as the upcaster of `kind` from `from_version` to the
        next version. It takes the stored (JSON) form of a payload of that version and returns
        the stored form of the next version's, normalised as the next version's model dumps it
        (Decimals as text, defaults present). It must not change its argument."""

        def register(function: Upcaster) -> Upcaster:
            key = (kind, from_version)
            if key in self._upcasters:
                raise ValueError(f"{kind.value}: an upcaster from version {from_version} exists")
            if not 1 <= from_version < self.current[kind]:
                raise ValueError(
                    f"{kind.value}: no upcaster from version {from_version}: the current "
                    f"version is {self.current[kind]}"
                )
            self._upcasters[key] = function
            return function

        return register

    # --- questions ---------------------------------------------------------------------------
    def versions(self, kind: EventType) -> range:
        """Every version of `kind`, oldest first."""
        return range(1, self.current[kind] + 1)

    def unversioned(self, kind: EventType) -> int:
        """The version of a stored `kind` event that records none."""
        return self._unversioned[kind]

    def recorded(self, kind: EventType, version: int | None) -> int:
        """The version a stored event is of, given what its metadata records (None: nothing)."""
        return self._unversioned[kind] if version is None else version

    def reads_as_is(self, kind: EventType, version: int | None) -> bool:
        """Whether a stored event recording `version` holds a current payload (no upcast)."""
        return self.recorded(kind, version) == self.current[kind]

    def fields_since(self, kind: EventType, version: int | None) -> frozenset[str]:
        """The payload fields the current version has and `version`'s model had not: a stored
        event of that version never said anything about them (upcasting gave them a value)."""
        start = self.recorded(kind, version)
        if start == self.current[kind] or (kind, start) not in self._models:
            return frozenset()
        found = self._since.get((kind, start))
        if found is None:
            before = self._models[(kind, start)].model_fields
            now = self._models[(kind, self.current[kind])].model_fields
            found = self._since[(kind, start)] = frozenset(now) - set(before)
        return found

    def model(self, kind: EventType, version: int) -> type[Payload]:
        """The payload model of one version."""
        found = self._models.get((kind, version))
        if found is None:
            raise SchemaVersionError(f"{kind.value} has no schema version {version}")
        return found

    def problems(self) -> list[str]:
        """What is missing for every version to be readable (empty when complete)."""
        found = []
        for kind in EventType:
            current = self.current.get(kind)
            if current is None:
                found.append(f"{kind.value}: no current schema version declared")
                continue
            for version in range(1, current):
                if (kind, version) not in self._models:
                    found.append(f"{kind.value}: no payload model of version {version}")
                if (kind, version) not in self._upcasters:
                    found.append(
                        f"{kind.value}: no upcaster from version {version} to {version + 1}"
                    )
        return found

    # --- reading -----------------------------------------------------------------------------
    def upcast(self, kind: EventType, version: int | None, payload: dict[str, Any]) -> Any:
        """The payload of a stored event of schema `version` (None: it records none, see
        `unversioned`) as the current version's, upcaster after upcaster. Refuses a version it
        cannot read, naming the type and the version."""
        current = self.current[kind]
        start = self._unversioned[kind] if version is None else version
        if not isinstance(start, int) or isinstance(start, bool) or start < 1:
            raise SchemaVersionError(
                f"{kind.value} event with schema version {version!r}: not a version "
                "(versions are integers from 1)"
            )
        if start > current:
            raise SchemaVersionError(
                f"{kind.value} event of schema version {start} is newer than this code knows "
                f"(it reads {kind.value} up to version {current}): upgrade Claire to read it"
            )
        for step in range(start, current):
            upcaster = self._upcasters.get((kind, step))
            if upcaster is None:
                raise SchemaVersionError(
                    f"{kind.value} event of schema version {start}: no upcaster from version "
                    f"{step} to {step + 1} is registered"
                )
            payload = upcaster(payload)
        return payload
