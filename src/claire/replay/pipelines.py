"""Which pipeline re-executes a range, and with which configuration.

The pipeline is the reference one or a user's, named `module:factory`; the factory takes a
`PipelineConfig` (or None) and returns an object with `process(state, event)`. The configuration
is the one the session was recorded with (its `session_started` alert carries it), with any
`--set path=value` overrides applied on top.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from claire.errors import ClaireError
from claire.events.model import BaseEvent
from claire.events.payloads import EventType
from claire.pipeline.config import PipelineConfig
from claire.replay.reexecute import DecisionPipeline
from claire.state.model import SESSION_STARTED
from claire.store.port import EventStore

REFERENCE = "reference"
Factory = Callable[[PipelineConfig | None], DecisionPipeline]


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


@dataclass(frozen=True, slots=True)
class RecordedConfig:
    """The configuration that recorded a range, and where it came from."""

    config: PipelineConfig
    source: str  # e.g. "session_started alert at sequence 1", or "default (none recorded)"
    recorded_hash: str | None


def recorded_config(store: EventStore, first: int, last: int) -> RecordedConfig:
    """The config of the session that recorded first..last.

    That is the latest `session_started` alert stored before `first`, or else the first one
    inside the range (a range that begins with its session).
    """
    chosen: BaseEvent | None = None
    for alert in store.read(1, last, event_types=[EventType.ALERT]):
        if alert.payload.get("code") != SESSION_STARTED:
            continue
        if chosen is None or (alert.sequence_number or 0) < first:
            chosen = alert
        if (alert.sequence_number or 0) >= first:
            break
    if chosen is None:
        return RecordedConfig(PipelineConfig(), "default (no session_started alert found)", None)
    document = config_document(chosen.payload.get("context", {}))
    where = f"session_started alert at sequence {chosen.sequence_number}"
    if document is None:
        return RecordedConfig(PipelineConfig(), f"default ({where} carries no config)", None)
    config = PipelineConfig.from_document(document, f"configuration recorded in the {where}")
    return RecordedConfig(config, where, config.config_hash())


def config_document(context: Mapping[str, Any]) -> Any:
    """The config document inside a session_started alert's context."""
    for key in ("config", "pipeline_config", "configuration"):
        if key in context:
            return context[key]
    return None


def resolve_config(
    store: EventStore, first: int, last: int, overrides: Mapping[str, str] | None
) -> tuple[RecordedConfig, PipelineConfig]:
    """The recorded config and the one to run (recorded, with overrides applied)."""
    recorded = recorded_config(store, first, last)
    config = recorded.config.with_overrides(dict(overrides)) if overrides else recorded.config
    return recorded, config


__all__ = [
    "REFERENCE",
    "Factory",
    "PipelineSpecError",
    "RecordedConfig",
    "build_pipeline",
    "config_document",
    "load_factory",
    "recorded_config",
    "resolve_config",
]
