"""PipelineConfig: every parameter of the reference pipeline, validated, hashable, overridable.

The configuration is part of what a decision depends on, so it travels with the recording: the
`session_started` alert carries its JSON form, every decision's metadata carries its hash, and
what-if replay changes it through dotted-path overrides (`risk.max_exposure_pct=0.10`).
"""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from claire.errors import ClaireError
from claire.events.codec import content_hash
from claire.events.values import Dec

PositiveDec = Annotated[Dec, Field(gt=0)]
FractionDec = Annotated[Dec, Field(gt=0, le=1)]


class PipelineConfigError(ClaireError, ValueError):
    """A configuration file, value or override path is wrong."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class StrategyConfig(_Section):
    """Momentum-and-volume strategy (see claire.pipeline.strategy for the rule)."""

    lookback: int = Field(default=20, ge=2, le=60, description="bars to measure momentum over")
    momentum_threshold: PositiveDec = Field(
        default=Decimal("0.005"), description="|price change over lookback| to signal"
    )
    volume_factor: PositiveDec = Field(
        default=Decimal("1.5"), description="bar volume must be this multiple of the average"
    )
    cooldown_bars: int = Field(default=30, ge=0, description="bars between signals per symbol")
    base_confidence: FractionDec = Field(default=Decimal("0.5"))
    confidence_per_strength: PositiveDec = Field(
        default=Decimal("0.1"), description="confidence added per threshold-multiple of momentum"
    )
    confidence_per_volume: PositiveDec = Field(
        default=Decimal("0.1"), description="confidence added per volume-factor multiple"
    )


class RiskConfig(_Section):
    """Limits the risk manager checks, and how it sizes positions and places stops."""

    risk_per_trade_pct: FractionDec = Field(
        default=Decimal("0.0015"), description="equity lost if the stop is hit"
    )
    max_daily_drawdown_pct: FractionDec = Field(default=Decimal("0.03"))
    max_exposure_pct: PositiveDec = Field(default=Decimal("0.6"))
    max_open_positions: int = Field(default=2, ge=1)
    max_position_pct: PositiveDec = Field(default=Decimal("0.3"))
    min_confidence: Annotated[Dec, Field(ge=0, le=1)] = Field(default=Decimal("0.6"))
    stop_loss_min_pct: FractionDec = Field(default=Decimal("0.006"))
    stop_loss_volatility_multiple: PositiveDec = Field(
        default=Decimal("6"), description="stop distance in mean absolute bar returns"
    )
    take_profit_ratio: PositiveDec = Field(
        default=Decimal("2"), description="take-profit distance in stop distances"
    )


class ExecutionConfig(_Section):
    """Paper execution: deterministic slippage, fees and volume-capped fills."""

    slippage_bps: Annotated[Dec, Field(ge=0, le=1000)] = Field(default=Decimal("2"))
    fee_rate: Annotated[Dec, Field(ge=0, lt=1)] = Field(default=Decimal("0.001"))
    max_volume_share: FractionDec = Field(
        default=Decimal("0.1"), description="largest share of a bar's volume one order may fill"
    )
    size_decimals: int = Field(default=4, ge=0, le=12)
    money_decimals: int = Field(default=4, ge=0, le=12)


class SessionConfig(_Section):
    """How a recorded session starts and how often the recorder snapshots the state."""

    starting_equity: PositiveDec = Field(default=Decimal("100000"))
    snapshot_every: int = Field(default=1000, ge=1, description="stored events per snapshot")
    batch_size: int = Field(default=2000, ge=1, le=100_000, description="events per append")


class PipelineConfig(_Section):
    strategy: StrategyConfig = Field(default_factory=StrategyConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    session: SessionConfig = Field(default_factory=SessionConfig)

    def to_document(self) -> dict[str, Any]:
        """The canonical JSON form (Decimals as text), as sessions record it."""
        return self.model_dump(mode="json")

    def config_hash(self) -> str:
        return content_hash(self.to_document())

    @classmethod
    def from_document(cls, document: Any, where: str = "configuration") -> Self:
        if not isinstance(document, dict):
            raise PipelineConfigError(f"{where}: expected an object of sections")
        try:
            return cls.model_validate(document)
        except ValidationError as exc:
            raise PipelineConfigError(_describe(exc, where)) from None

    def with_overrides(self, overrides: dict[str, Any]) -> Self:
        """A new validated config with dotted-path values replaced (text parsed to the type)."""
        document = self.to_document()
        for path, value in overrides.items():
            _set_path(document, path, value)
        return self.from_document(document, "override")


def _set_path(document: dict[str, Any], path: str, value: Any) -> None:
    parts = path.strip().split(".")
    node = document
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none"
            where = ".".join(parts[: depth + 1])
            raise PipelineConfigError(
                f"unknown configuration path {path!r}: no {where!r} (known here: {known})"
            )
        if depth == len(parts) - 1:
            if isinstance(node[part], dict):
                raise PipelineConfigError(
                    f"configuration path {path!r} names a section, not a parameter "
                    f"(parameters: {', '.join(sorted(node[part]))})"
                )
            node[part] = value
        else:
            node = node[part]


def _describe(exc: ValidationError, where: str) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"])
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown parameter"
        problems.append(f"{field}: {message}")
    return f"invalid {where}: " + "; ".join(problems)


def parse_overrides(items: list[str]) -> dict[str, str]:
    """`path=value` strings (as given on a command line) to a mapping."""
    result: dict[str, str] = {}
    for item in items:
        path, sep, value = item.partition("=")
        if not sep or not path.strip():
            raise PipelineConfigError(f"override {item!r}: expected path=value")
        result[path.strip()] = value.strip()
    return result


def load_config(path: str | Path) -> PipelineConfig:
    """Read a JSON or TOML file (by extension; anything else is tried as JSON then TOML)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PipelineConfigError(f"cannot read configuration file {file}: {exc}") from None
    document = _parse_config_text(text, file)
    return PipelineConfig.from_document(document, f"configuration file {file}")


def _parse_config_text(text: str, file: Path) -> Any:
    suffix = file.suffix.lower()
    if suffix == ".toml":
        return _toml(text, file)
    if suffix == ".json":
        return _json(text, file)
    try:
        return _json(text, file)
    except PipelineConfigError:
        return _toml(text, file)


def _json(text: str, file: Path) -> Any:
    try:
        # Floats would lose digits on the way to Decimal; read them as exact text.
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise PipelineConfigError(
            f"configuration file {file}: invalid JSON at line {exc.lineno}: {exc.msg}"
        ) from None


def _toml(text: str, file: Path) -> Any:
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PipelineConfigError(f"configuration file {file}: invalid TOML: {exc}") from None
