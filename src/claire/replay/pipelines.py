"""Which pipeline re-executes each part of a range, and with which configuration.

Replay depends on a pipeline *protocol*, never on a pipeline package: a pipeline is registered
in the entry point group `claire.pipelines` (the reference pipeline is one registration, in
claire's own pyproject.toml), or named on the command line as `--pipeline module:attribute`.
A registration provides a `PipelineProvider`: the code versions whose decisions it re-executes,
how it reads a recorded configuration document, applies `--set` overrides and hashes a
configuration, and a decision pipeline built from a configuration. `--pipeline` also accepts a
plain `factory(config)` callable as before: it gets the reference pipeline's configuration.

Each part of a range (see claire.replay.parts) runs with the configuration its own session
recorded (its `session_started` alert carries it), with any overrides applied on top.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol, cast, runtime_checkable

from claire.errors import ClaireError
from claire.replay.parts import Part, plan
from claire.replay.reexecute import DecisionPipeline
from claire.store.port import EventStore

GROUP = "claire.pipelines"
DEFAULT = "reference"  # the registration used when a range does not say otherwise


@runtime_checkable
class PipelineProvider(Protocol):
    """What a registered pipeline provides to replay.

    Configurations are the provider's own objects; replay only hands them back. A recorded
    document or an override that is wrong (or cannot apply) raises ValueError with a message
    naming the field and the reason.
    """

    @property
    def code_versions(self) -> tuple[str, ...]:
        """The `metadata.code_version`s of the decisions it re-executes (a plain attribute)."""
        ...

    def load_config(self, document: Any, where: str) -> Any:
        """The configuration in a recorded document (None: none recorded, the defaults)."""
        ...

    def apply_overrides(self, config: Any, overrides: Mapping[str, str]) -> Any:
        """`config` with dotted `path=value` overrides applied (values as typed by a user)."""
        ...

    def config_hash(self, config: Any) -> str:
        """The hash the pipeline records in each decision's `metadata.config_hash`."""
        ...

    def build(self, config: Any) -> DecisionPipeline:
        """A decision pipeline configured by `config`."""
        ...


class PipelineSpecError(ClaireError, ValueError):
    """`--pipeline` names nothing usable, or nothing is registered (a usage error)."""


class OverrideError(ClaireError, ValueError):
    """A `--set` override is wrong or cannot apply (a usage error)."""


class RecordedConfigError(ClaireError):
    """The configuration a session recorded cannot be read by the pipeline re-executing it."""


@dataclass(frozen=True, slots=True)
class Registered:
    """A provider and the name it is known by (its entry point, or the `--pipeline` text)."""

    name: str
    provider: PipelineProvider


class PipelineRegistry:
    """The pipelines replay can run, by name and by code version."""

    def __init__(
        self,
        entries: Iterable[tuple[str, PipelineProvider]] = (),
        problems: Mapping[str, str] | None = None,
    ) -> None:
        self.entries = dict(entries)
        self.problems = dict(problems or {})  # entry point name -> why it could not load

    @classmethod
    def from_entry_points(cls, group: str = GROUP) -> PipelineRegistry:
        """Every pipeline installed distributions register in the entry point group."""
        entries: list[tuple[str, PipelineProvider]] = []
        problems: dict[str, str] = {}
        for point in sorted(entry_points(group=group), key=lambda p: p.name):
            try:
                loaded = point.load()
            except Exception as exc:  # a broken plugin must not hide the others
                problems[point.name] = (
                    f"{point.value} cannot be loaded ({type(exc).__name__}: {exc})"
                )
                continue
            if isinstance(loaded, PipelineProvider):
                entries.append((point.name, loaded))
            else:
                problems[point.name] = f"{point.value} is not a pipeline provider"
        return cls(entries, problems)

    def named(self, name: str) -> Registered | None:
        provider = self.entries.get(name)
        return Registered(name, provider) if provider is not None else None

    def for_version(self, code_version: str) -> Registered | None:
        """The registration that re-executes decisions of `code_version` (None: none does)."""
        found = [
            Registered(name, provider)
            for name, provider in self.entries.items()
            if code_version in provider.code_versions
        ]
        if len(found) > 1:
            names = ", ".join(r.name for r in found)
            raise PipelineSpecError(
                f"code version {code_version!r} is registered by several pipelines ({names}) "
                f"in the entry point group {GROUP}: keep one"
            )
        return found[0] if found else None

    def default(self) -> Registered:
        registered = self.named(DEFAULT)
        if registered is None:
            raise PipelineSpecError(
                f"no pipeline named {DEFAULT!r} is registered in the entry point group {GROUP}"
                f"{self._known()}: is claire installed (python3 tasks.py setup)?"
            )
        return registered

    def resolve(self, spec: str | None) -> Registered:
        """`spec`: None (the default), a registered name or code version, or module:attribute."""
        if spec is None:
            return self.default()
        registered = self.named(spec) or self.for_version(spec)
        if registered is not None:
            return registered
        if ":" not in spec:
            raise PipelineSpecError(
                f"--pipeline {spec!r}: no pipeline of that name or code version is registered "
                f"in the entry point group {GROUP}{self._known()}; or give module:attribute"
            )
        return Registered(spec, self._from_module(spec))

    def _from_module(self, spec: str) -> PipelineProvider:
        module_name, _, attribute = spec.partition(":")
        if not module_name.strip() or not attribute.strip():
            raise PipelineSpecError(f"--pipeline {spec!r}: expected module:attribute")
        try:
            module = importlib.import_module(module_name.strip())
        except ImportError as exc:
            raise PipelineSpecError(
                f"--pipeline {spec!r}: cannot import {module_name!r} ({exc})"
            ) from None
        found = getattr(module, attribute.strip(), None)
        if isinstance(found, PipelineProvider):
            return found
        if callable(found):
            return CallableFactory(found, self.default().provider)
        raise PipelineSpecError(
            f"--pipeline {spec!r}: module {module_name!r} has no pipeline provider or "
            f"callable factory {attribute!r}"
        )

    def known(self) -> str:
        """What is registered (and what failed to load), for messages."""
        known = ", ".join(
            f"{name} ({', '.join(p.code_versions)})" for name, p in self.entries.items()
        )
        broken = "; ".join(f"{name}: {why}" for name, why in self.problems.items())
        return (known or "none") + (f"; not loaded: {broken}" if broken else "")

    def _known(self) -> str:
        return f" (registered: {self.known()})"


@dataclass(frozen=True, slots=True)
class CallableFactory:
    """A plain `factory(config)` callable: the default pipeline's configuration handling, the
    callable's decisions (the `--pipeline module:factory` form of earlier versions)."""

    factory: Callable[[Any], Any]
    base: PipelineProvider
    code_versions: tuple[str, ...] = ()

    def load_config(self, document: Any, where: str) -> Any:
        return self.base.load_config(document, where)

    def apply_overrides(self, config: Any, overrides: Mapping[str, str]) -> Any:
        return self.base.apply_overrides(config, overrides)

    def config_hash(self, config: Any) -> str:
        return self.base.config_hash(config)

    def build(self, config: Any) -> DecisionPipeline:
        pipeline = self.factory(config)
        if not callable(getattr(pipeline, "process", None)):
            raise PipelineSpecError(
                f"the factory {getattr(self.factory, '__qualname__', self.factory)!r} returned "
                f"{type(pipeline).__name__}, which has no process(state, event) method"
            )
        return cast(DecisionPipeline, pipeline)


@dataclass(frozen=True, slots=True)
class PreparedPart:
    """A part of the range and the pipeline that re-executes it (None: none is registered for
    the part's code version, so it is not re-executed)."""

    part: Part
    pipeline_name: str | None
    pipeline: DecisionPipeline | None
    config_hash: str | None  # of the configuration it runs with (recorded plus overrides)

    @property
    def recorded_hash(self) -> str | None:
        return self.part.session.recorded_hash if self.part.session is not None else None

    def to_document(self) -> dict[str, Any]:
        return {
            "from_sequence": self.part.first,
            "to_sequence": self.part.last,
            "code_version": self.part.code_version,
            "pipeline": self.pipeline_name,
            "reexecuted": self.pipeline is not None,
            "config_source": self.part.config_source,
            "recorded_config_hash": self.recorded_hash,
            "config_hash": self.config_hash,
        }


@dataclass(frozen=True, slots=True)
class MissingVersion:
    """Decisions of a code version no registered pipeline re-executes."""

    code_version: str
    ranges: list[tuple[int, int]]
    decisions: int
    registered: str  # what is registered, for the reader who wonders why

    @property
    def message(self) -> str:
        spans = ", ".join(f"{a}–{b}" for a, b in self.ranges)
        return (
            f"decisions of `{self.code_version}` (sequences {spans}): no pipeline registered "
            "for this version — not re-executed"
        )

    def to_document(self) -> dict[str, Any]:
        return {
            "code_version": self.code_version,
            "ranges": [list(r) for r in self.ranges],
            "decisions": self.decisions,
            "message": self.message,
            "registered": self.registered,
        }


class VersionUnavailableError(ClaireError):
    """Part of a range was decided by code no registered pipeline re-executes."""

    def __init__(self, missing: list[MissingVersion]) -> None:
        super().__init__("; ".join(m.message for m in missing))
        self.missing = missing


@dataclass(frozen=True, slots=True)
class Plan:
    """The parts of a range, prepared, and the code versions that cannot be re-executed."""

    parts: list[PreparedPart]
    missing: list[MissingVersion]

    def require_all(self) -> list[PreparedPart]:
        """Every part, all re-executable (else VersionUnavailableError)."""
        if self.missing:
            raise VersionUnavailableError(self.missing)
        return self.parts


def prepare_part(
    part: Part, registered: Registered, overrides: Mapping[str, str] | None
) -> PreparedPart:
    """`part` with a pipeline built from its recorded configuration plus the overrides."""
    provider = registered.provider
    where = f"configuration recorded in the {part.config_source}"
    try:
        config = provider.load_config(part.config_document, where)
    except ValueError as exc:
        raise RecordedConfigError(f"pipeline {registered.name!r}: {exc}") from None
    if overrides:
        try:
            config = provider.apply_overrides(config, overrides)
        except ValueError as exc:
            raise OverrideError(str(exc)) from None
    pipeline = provider.build(config)
    return PreparedPart(part, registered.name, pipeline, provider.config_hash(config))


def prepare(
    store: EventStore,
    first: int,
    last: int,
    *,
    pipeline: str | None,
    overrides: Mapping[str, str] | None,
    registry: PipelineRegistry | None = None,
) -> Plan:
    """Each part of first..last with its pipeline, built from its recorded configuration.

    With `pipeline` (a --pipeline spec) that pipeline runs every part; otherwise each part runs
    with the pipeline registered for its code version (the default when none is recorded).
    """
    registry = registry or PipelineRegistry.from_entry_points()
    chosen = registry.resolve(pipeline) if pipeline is not None else None
    prepared: list[PreparedPart] = []
    missing: dict[str, list[Part]] = {}  # code version -> its parts, in range order
    for part in plan(store, first, last):
        version = part.code_version
        registered = chosen or (
            registry.default() if version is None else registry.for_version(version)
        )
        if registered is not None:
            prepared.append(prepare_part(part, registered, overrides))
        else:
            assert version is not None
            prepared.append(PreparedPart(part, None, None, None))
            missing.setdefault(version, []).append(part)
    return Plan(
        prepared,
        [
            MissingVersion(
                version,
                [(p.first, p.last) for p in parts],
                sum(p.decisions for p in parts),
                registry.known(),
            )
            for version, parts in missing.items()
        ],
    )


__all__ = [
    "DEFAULT",
    "GROUP",
    "CallableFactory",
    "MissingVersion",
    "OverrideError",
    "PipelineProvider",
    "PipelineRegistry",
    "PipelineSpecError",
    "Plan",
    "PreparedPart",
    "RecordedConfigError",
    "Registered",
    "VersionUnavailableError",
    "prepare",
    "prepare_part",
]
