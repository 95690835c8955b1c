"""The reference trading pipeline: market data -> Signal Engine -> Risk Manager -> Execution.

`Pipeline.process(state, event)` is the decision logic replay re-executes; `reference_pipeline`
is its factory; `SessionRecorder` records sessions into a store; `record_demo` and `record_csv`
are the sessions behind `claire demo` and `claire record`.
"""

from claire.pipeline.bars import Bar
from claire.pipeline.config import (
    ExecutionConfig,
    PipelineConfig,
    PipelineConfigError,
    RiskConfig,
    SessionConfig,
    StrategyConfig,
    load_config,
    parse_overrides,
)
from claire.pipeline.csv_source import CsvFormat, MarketDataError, read_csv
from claire.pipeline.execution import PaperGateway, place_live_order
from claire.pipeline.pipeline import Pipeline, reference_pipeline
from claire.pipeline.recorder import (
    SessionRecorder,
    SessionResult,
    SessionSpec,
    market_data_correlation,
    rebuild_state,
)
from claire.pipeline.sessions import record_csv, record_demo
from claire.pipeline.synthetic import SyntheticMarket

__all__ = [
    "Bar",
    "CsvFormat",
    "ExecutionConfig",
    "MarketDataError",
    "PaperGateway",
    "Pipeline",
    "PipelineConfig",
    "PipelineConfigError",
    "RiskConfig",
    "SessionConfig",
    "SessionRecorder",
    "SessionResult",
    "SessionSpec",
    "StrategyConfig",
    "SyntheticMarket",
    "load_config",
    "market_data_correlation",
    "parse_overrides",
    "place_live_order",
    "read_csv",
    "rebuild_state",
    "record_csv",
    "record_demo",
    "reference_pipeline",
]
