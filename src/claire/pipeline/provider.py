"""The reference pipeline as replay finds it: an entry point of the group `claire.pipelines`.

Replay never imports this package. It loads whatever the entry point group registers and asks
each registration for what the pipeline protocol (claire.replay.pipelines.PipelineProvider)
describes: the code versions whose decisions it re-executes, how to read a recorded
configuration document, how to apply `--set` overrides, the configuration hash its decisions
record, and a decision pipeline built from a configuration. pyproject.toml registers
`reference = "claire.pipeline.provider:reference"`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from claire.pipeline.config import PipelineConfig, PipelineConfigError
from claire.pipeline.pipeline import CODE_VERSION, Pipeline

# Sections that configure how a session is recorded (starting equity, snapshots, batching):
# re-execution starts from the recorded state and stores nothing, so they cannot change it.
RECORDING_SECTIONS = ("session",)


class ReferencePipelines:
    """The reference pipeline (signal engine -> risk manager -> paper execution)."""

    code_versions: tuple[str, ...] = (CODE_VERSION,)

    def load_config(self, document: Any, where: str = "configuration") -> PipelineConfig:
        """The configuration a session recorded (None: recorded none, so the defaults)."""
        if document is None:
            return PipelineConfig()
        return PipelineConfig.from_document(document, where)

    def apply_overrides(
        self, config: PipelineConfig, overrides: Mapping[str, str]
    ) -> PipelineConfig:
        """`config` with the overrides that change a value applied; a bad one is refused.

        An override equal to the value in force (2.0 for 2) changes nothing, not even the text.
        """
        changed: dict[str, str] = {}
        for path, text in overrides.items():
            section = path.strip().split(".")[0]
            if section in RECORDING_SECTIONS:
                raise PipelineConfigError(
                    f"--set {path}: cannot apply here: the {section!r} section configures how "
                    "a session is recorded (starting equity, snapshots, batching), and "
                    "re-execution starts from the recorded state and records nothing"
                )
            candidate = config.with_overrides({path: text})
            if _value_at(candidate, path) != _value_at(config, path):
                changed[path] = text
        return config.with_overrides(changed) if changed else config

    def config_hash(self, config: PipelineConfig) -> str:
        return config.config_hash()

    def build(self, config: PipelineConfig) -> Pipeline:
        return Pipeline(config)


def _value_at(config: PipelineConfig, path: str) -> Any:
    node: Any = config
    for name in path.strip().split("."):
        node = getattr(node, name)
    return node


reference = ReferencePipelines()

__all__ = ["RECORDING_SECTIONS", "ReferencePipelines", "reference"]
