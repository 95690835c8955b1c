"""Pipelines are found through the `claire.pipelines` entry point group (importlib.metadata)."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from claire.pipeline.pipeline import CODE_VERSION, Pipeline
from claire.pipeline.provider import ReferencePipelines, reference
from claire.replay.pipelines import (
    GROUP,
    CallableFactory,
    PipelineProvider,
    PipelineRegistry,
    PipelineSpecError,
)
from tests.registration import write_registrations

# mypy checks that the reference pipeline implements the protocol replay depends on.
PROVIDER: PipelineProvider = reference


class OtherVersion(ReferencePipelines):
    code_versions = ("bot-2.0.0",)


other = OtherVersion()
also_reference = OtherVersion()
also_reference.code_versions = (CODE_VERSION,)


def plain_factory(config: Any) -> Pipeline:
    return Pipeline(config)


def test_claire_registers_the_reference_pipeline_as_an_entry_point() -> None:
    (point,) = [p for p in entry_points(group=GROUP) if p.name == "reference"]
    assert point.value == "claire.pipeline.provider:reference"
    registry = PipelineRegistry.from_entry_points()
    default = registry.default()
    assert default.name == "reference" and default.provider is reference
    assert registry.for_version(CODE_VERSION) == default
    assert registry.resolve(CODE_VERSION) == default
    assert registry.for_version("bot-9.9.9") is None


def test_registrations_on_the_path_are_found_and_broken_ones_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = __name__
    write_registrations(
        tmp_path,
        {
            "other": f"{module}:other",
            "broken": "no_such_module_anywhere:thing",
            "not-a-pipeline": "json:dumps",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = PipelineRegistry.from_entry_points()
    assert registry.resolve("other").provider is other
    assert registry.resolve("bot-2.0.0").name == "other"
    assert registry.resolve(None).name == "reference"
    assert set(registry.problems) == {"broken", "not-a-pipeline"}
    assert "cannot be loaded (ModuleNotFoundError" in registry.problems["broken"]
    with pytest.raises(PipelineSpecError) as refused:
        registry.resolve("nothing-by-this-name")
    message = str(refused.value)
    assert "no pipeline of that name or code version is registered" in message
    assert f"other (bot-2.0.0), reference ({CODE_VERSION})" in message
    assert "broken: no_such_module_anywhere:thing cannot be loaded" in message


def test_module_attribute_names_a_provider_or_a_plain_factory() -> None:
    registry = PipelineRegistry.from_entry_points()
    assert registry.resolve(f"{__name__}:other").provider is other
    wrapped = registry.resolve(f"{__name__}:plain_factory").provider
    assert isinstance(wrapped, CallableFactory) and wrapped.base is reference
    config = wrapped.load_config({"risk": {"min_confidence": "0.5"}}, "test")
    assert isinstance(wrapped.build(config), Pipeline)
    with pytest.raises(PipelineSpecError, match="has no pipeline provider or callable"):
        registry.resolve(f"{__name__}:nothing")


def test_a_code_version_registered_twice_is_refused() -> None:
    registry = PipelineRegistry([("reference", reference), ("copy", also_reference)])
    with pytest.raises(PipelineSpecError, match="registered by several pipelines"):
        registry.for_version(CODE_VERSION)


def test_nothing_registered_says_how_to_fix_it() -> None:
    with pytest.raises(PipelineSpecError, match=r"\(registered: none\): is claire installed"):
        PipelineRegistry().resolve(None)


def test_overrides_equal_to_the_value_in_force_change_nothing() -> None:
    config = reference.load_config({"risk": {"min_confidence": "0.5"}}, "test")
    same = reference.apply_overrides(config, {"risk.min_confidence": "0.50"})
    assert reference.config_hash(same) == reference.config_hash(config)
    changed = reference.apply_overrides(config, {"risk.min_confidence": "0.55"})
    assert str(changed.risk.min_confidence) == "0.55"
    with pytest.raises(ValueError, match="cannot apply here"):
        reference.apply_overrides(config, {"session.snapshot_every": "5"})
    with pytest.raises(ValueError, match="unknown configuration path"):
        reference.apply_overrides(config, {"risk.nope": "1"})
