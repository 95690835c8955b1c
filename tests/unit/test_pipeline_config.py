"""PipelineConfig: validation, dotted-path overrides, hashing, and configuration files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from claire.events.codec import content_hash
from claire.pipeline import PipelineConfig, PipelineConfigError, load_config, parse_overrides


def test_override_parses_text_to_the_field_type_and_leaves_the_original_alone() -> None:
    base = PipelineConfig()
    changed = base.with_overrides(
        {"risk.max_exposure_pct": "0.10", "risk.max_open_positions": "5", "strategy.lookback": "9"}
    )
    assert changed.risk.max_exposure_pct == Decimal("0.10")
    assert changed.risk.max_open_positions == 5
    assert changed.strategy.lookback == 9
    assert base.risk.max_exposure_pct == Decimal("0.6")
    assert changed.config_hash() != base.config_hash()


def test_unknown_override_path_names_the_path() -> None:
    with pytest.raises(PipelineConfigError, match=r"risk\.max_exposur"):
        PipelineConfig().with_overrides({"risk.max_exposur": "0.1"})
    with pytest.raises(PipelineConfigError, match="'riskk'"):
        PipelineConfig().with_overrides({"riskk.max_exposure_pct": "0.1"})


def test_override_of_a_whole_section_is_refused() -> None:
    with pytest.raises(PipelineConfigError, match="names a section"):
        PipelineConfig().with_overrides({"risk": "1"})


def test_invalid_override_value_names_the_field_and_reason() -> None:
    with pytest.raises(PipelineConfigError, match=r"risk\.max_open_positions"):
        PipelineConfig().with_overrides({"risk.max_open_positions": "0"})
    with pytest.raises(PipelineConfigError, match=r"execution\.slippage_bps"):
        PipelineConfig().with_overrides({"execution.slippage_bps": "lots"})


def test_config_hash_is_the_content_hash_of_the_canonical_document() -> None:
    config = PipelineConfig()
    assert config.config_hash() == content_hash(config.to_document())
    # Decimals are text in the document, so no float can creep into the hash.
    assert config.to_document()["risk"]["max_exposure_pct"] == "0.6"
    assert PipelineConfig.from_document(config.to_document()) == config


def test_parse_overrides_requires_path_equals_value() -> None:
    assert parse_overrides(["risk.min_confidence = 0.7"]) == {"risk.min_confidence": "0.7"}
    with pytest.raises(PipelineConfigError, match="expected path=value"):
        parse_overrides(["risk.min_confidence"])


def test_load_toml_and_json_files(tmp_path: Path) -> None:
    toml = tmp_path / "pipeline.toml"
    toml.write_text("[risk]\nmax_exposure_pct = 0.25\n\n[strategy]\nlookback = 12\n")
    config = load_config(toml)
    assert config.risk.max_exposure_pct == Decimal("0.25")
    assert config.strategy.lookback == 12
    js = tmp_path / "pipeline.json"
    js.write_text('{"execution": {"fee_rate": 0.0005}}')
    assert load_config(js).execution.fee_rate == Decimal("0.0005")


def test_bad_config_file_names_file_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nmax_exposure_pct = -1\n")
    with pytest.raises(PipelineConfigError, match=r"bad\.toml.*risk\.max_exposure_pct"):
        load_config(bad)
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"risk": {"max_leverage": 3}}')
    with pytest.raises(PipelineConfigError, match=r"risk\.max_leverage: unknown parameter"):
        load_config(unknown)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(PipelineConfigError, match="invalid JSON at line 1"):
        load_config(broken)
