"""Which pipeline re-executes each part of a range, and with which configuration.

The pipeline is the reference one or a user's, named `module:factory`; the factory takes a
`PipelineConfig` (or None) and returns an object with `process(state, event)`. Each part of the
range (see claire.replay.parts) runs with the configuration its own session recorded (its
`session_started` alert carries it), with any `--set path=value` overrides applied on top.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claire.errors import ClaireError
from claire.pipeline.config import PipelineConfig, PipelineConfigError
from claire.replay.parts import Part, plan
from claire.replay.reexecute import DecisionPipeline
from claire.store.port import EventStore

REFERENCE = "reference"
Factory = Callable[[PipelineConfig | None], DecisionPipeline]
# Sections that configure how a session is recorded (starting equity, snapshots, batching):
# re-execution starts from the recorded state and stores nothing, so they cannot change it.
RECORDING_SECTIONS = ("session",)


class PipelineSpecError(ClaireError, ValueError):
    """`--pipeline module:factory` names nothing usable (a usage error)."""


def load_factory(spec: str | None) -> tuple[str, Factory]:
    """The factory `spec` names (None or "reference": the reference pipeline), and its name."""
    if spec is None or spec == REFERENCE:
        from claire.pipeline import reference_pipeline

        return REFERENCE, reference_pipeline
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name.strip() or not attribute.strip():
        raise PipelineSpecError(f"--pipeline {spec!r}: expected module:factory")
    try:
        module = importlib.import_module(module_name.strip())
    except ImportError as exc:
        raise PipelineSpecError(
            f"--pipeline {spec!r}: cannot import {module_name!r} ({exc})"
        ) from None
    factory = getattr(module, attribute.strip(), None)
    if not callable(factory):
        raise PipelineSpecError(
            f"--pipeline {spec!r}: module {module_name!r} has no callable {attribute!r}"
        )
    return spec, factory


def build_pipeline(factory: Factory, config: PipelineConfig, name: str) -> DecisionPipeline:
    pipeline = factory(config)
    if not callable(getattr(pipeline, "process", None)):
        raise PipelineSpecError(
            f"--pipeline {name!r}: the factory returned {type(pipeline).__name__}, "
            "which has no process(state, event) method"
        )
    return pipeline


def apply_overrides(config: PipelineConfig, overrides: Mapping[str, str]) -> PipelineConfig:
    """`config` with the overrides that change a value applied; a bad one is refused.

    An override equal to the value in force (2.0 for 2) changes nothing, not even the text.
    """
    changed: dict[str, str] = {}
    for path, text in overrides.items():
        section = path.strip().split(".")[0]
        if section in RECORDING_SECTIONS:
            raise PipelineConfigError(
                f"--set {path}: cannot apply here: the {section!r} section configures how a "
                "session is recorded (starting equity, snapshots, batching), and "
                "re-execution starts from the recorded state and records nothing"
            )
        candidate = config.with_overrides({path: text})
        if _value_at(candidate, path) != _value_at(config, path):
            changed[path] = text
    return config.with_overrides(changed) if changed else config


def _value_at(config: PipelineConfig, path: str) -> Any:
    node: Any = config
    for name in path.strip().split("."):
        node = getattr(node, name)
    return node


@dataclass(frozen=True, slots=True)
class PreparedPart:
    """A part of the range and the pipeline that re-executes it."""

    part: Part
    pipeline_name: str
    pipeline: DecisionPipeline
    config_hash: str  # of the configuration it runs with (the recorded one plus overrides)

    @property
    def recorded_hash(self) -> str | None:
        return self.part.session.recorded_hash if self.part.session is not None else None

    def to_document(self) -> dict[str, Any]:
        return {
            "from_sequence": self.part.first,
            "to_sequence": self.part.last,
            "pipeline": self.pipeline_name,
            "config_source": self.part.config_source,
            "recorded_config_hash": self.recorded_hash,
            "config_hash": self.config_hash,
        }


def prepare(
    store: EventStore,
    first: int,
    last: int,
    *,
    pipeline: str | None,
    overrides: Mapping[str, str] | None,
) -> list[PreparedPart]:
    """Each part of first..last with its pipeline, built from its recorded configuration."""
    name, factory = load_factory(pipeline)
    prepared = []
    for part in plan(store, first, last):
        document = part.config_document
        config = (
            PipelineConfig()
            if document is None
            else PipelineConfig.from_document(
                document, f"configuration recorded in the {part.config_source}"
            )
        )
        if overrides:
            config = apply_overrides(config, overrides)
        runner = build_pipeline(factory, config, name)
        prepared.append(PreparedPart(part, name, runner, config.config_hash()))
    return prepared


__all__ = [
    "REFERENCE",
    "Factory",
    "PipelineSpecError",
    "PreparedPart",
    "apply_overrides",
    "build_pipeline",
    "load_factory",
    "prepare",
]
