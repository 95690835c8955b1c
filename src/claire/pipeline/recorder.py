"""Recording a session: market data -> pipeline -> store, in batches, with state snapshots.

The recorder is the pipeline's only writer for a session: it holds the store's recording lock
(claire.store.locks) for the whole session, rebuilds the state from the store (the pipeline's
latest snapshot + the events after it, see claire.state.snapshots), notes a previous session
that never finished (`session_interrupted`), opens the session with a `session_started` alert,
stamps each bar as a market_data event, lets the pipeline decide, and appends everything in
batches. After a batch is stored it knows the sequence numbers, so every `snapshot_every`
stored events it emits a `state_snapshot` whose `at_sequence` is the last event folded: folding
the log from the start up to that sequence gives exactly the recorded hash.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from claire.errors import StoreError
from claire.events.clock import LogicalClock
from claire.events.factory import EventFactory
from claire.events.model import BaseEvent
from claire.events.payloads import (
    AlertLevel,
    EventType,
    MarketDataPayload,
    Payload,
    StateSnapshotPayload,
)
from claire.events.values import decimal_to_str
from claire.gc_tuning import relaxed_gc
from claire.pipeline.bars import Bar
from claire.pipeline.interruptions import (
    RECORDER_SERVICE,
    SESSION_FINISHED,
    SESSION_INTERRUPTED,
    InterruptedSession,
    find_interrupted,
)
from claire.pipeline.pipeline import PIPELINE_VERSION, Pipeline
from claire.pipeline.writer import BatchWriter
from claire.state.model import SESSION_STARTED, SystemState
from claire.state.snapshots import SnapshotUsed, StartingPoint, fold, starting_point
from claire.store.locks import recording_lock
from claire.store.port import EventStore

MARKET_DATA_SERVICE = "claire-market-data"
# Every deterministic id of the pipeline (sessions, market data correlation ids) lives here.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/claire-de-binaire/claire")


Progress = Callable[[int, int], None]  # (bars recorded, bars in total)


def session_id_for(*parts: object) -> UUID:
    return uuid.uuid5(ID_NAMESPACE, ":".join(str(p) for p in parts))


def market_data_correlation(session_id: UUID, symbol: str, bar_index: int) -> UUID:
    """A bar's correlation id; a trade the bar starts keeps it (see claire.pipeline.pipeline)."""
    return uuid.uuid5(session_id, f"{symbol}:{bar_index}")


@dataclass(frozen=True, slots=True)
class SessionSpec:
    session_id: UUID
    source: str  # the market_data events' `source`, e.g. "synthetic" or "csv:prices.csv"
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class SessionResult:
    session_id: UUID
    first_sequence: int
    last_sequence: int
    state: SystemState
    starting_equity: Decimal
    events_by_type: Counter[str] = field(default_factory=Counter)
    entries_approved: int = 0
    entries_rejected: int = 0
    stop_losses: int = 0
    take_profits: int = 0
    fees: Decimal = Decimal(0)
    snapshots: int = 0
    example_decision_id: UUID | None = None
    example_correlation_id: UUID | None = None
    interrupted: InterruptedSession | None = None  # the unfinished session noted first
    started_from: SnapshotUsed | None = None  # the snapshot the state was rebuilt from
    snapshot_rejected: str | None = None  # why the newest snapshot was not used

    @property
    def total_events(self) -> int:
        return sum(self.events_by_type.values())

    @property
    def ending_equity(self) -> Decimal:
        return self.state.equity

    @property
    def pnl(self) -> Decimal:
        """Realised PnL after fees over the session."""
        return self.state.equity - self.starting_equity

    def summary(self) -> dict[str, Any]:
        return {
            "session_id": str(self.session_id),
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
            "events": self.total_events,
            "events_by_type": dict(sorted(self.events_by_type.items())),
            "trades": {
                "approved": self.entries_approved,
                "rejected": self.entries_rejected,
                "stop_losses": self.stop_losses,
                "take_profits": self.take_profits,
                "open_positions": len(self.state.positions),
            },
            "pnl": {
                "starting_equity": decimal_to_str(self.starting_equity),
                "ending_equity": decimal_to_str(self.ending_equity),
                "realized_after_fees": decimal_to_str(self.pnl),
                "fees": decimal_to_str(self.fees),
                "unrealized": decimal_to_str(self.state.unrealized_pnl),
            },
            "snapshots": self.snapshots,
            "example_decision_id": str(self.example_decision_id)
            if self.example_decision_id
            else None,
            "example_correlation_id": str(self.example_correlation_id)
            if self.example_correlation_id
            else None,
            "interrupted_session": self.interrupted.to_document() if self.interrupted else None,
            "started_from_snapshot": self.started_from.to_document() if self.started_from else None,
            "snapshot_rejected": self.snapshot_rejected,
        }


def rebuild_state(store: EventStore) -> SystemState:
    """The state of the whole log: the pipeline's latest snapshot (if it holds) plus the delta."""
    return rebuild(store).state


def rebuild(store: EventStore, *, verify_snapshot: bool = False) -> StartingPoint:
    """The state of the whole log and the snapshot it started from (see claire.state.snapshots;
    `verify_snapshot` checks an unverified one against a fold first)."""
    head = store.head().sequence_number
    start = starting_point(store, head, verify=verify_snapshot)
    fold(store, start.state, start.state.last_sequence + 1, head)
    return start


class SessionRecorder:
    """Records one session at a time into `store` through `pipeline`."""

    def __init__(self, store: EventStore, pipeline: Pipeline, *, progress: Progress | None = None):
        self.store = store
        self.pipeline = pipeline
        self.config = pipeline.config
        self.progress = progress

    def record(
        self,
        session: SessionSpec,
        bars: Iterable[Bar],
        total_bars: int | None = None,
        *,
        origin: StartingPoint | None = None,
    ) -> SessionResult:
        """Record `bars`; `origin` is the store's current state if the caller rebuilt it
        (holding the recording lock since: see claire.store.locks)."""
        with recording_lock(self.store.url):
            run = _Run(self, session, total_bars, origin or rebuild(self.store))
            return run.execute(iter(bars))


class _Run:
    def __init__(
        self,
        recorder: SessionRecorder,
        session: SessionSpec,
        total: int | None,
        origin: StartingPoint,
    ):
        self.store = recorder.store
        self.pipeline = recorder.pipeline
        self.config = recorder.config
        self.progress = recorder.progress
        self.session = session
        self.total = total or 0
        self.state = origin.state
        self.next_sequence = self.store.head().sequence_number + 1
        self.writer: BatchWriter
        self.clock = LogicalClock(self.state.last_timestamp_logical)
        self.market = EventFactory(
            MARKET_DATA_SERVICE, PIPELINE_VERSION, clock=self.clock, now=_no_wall_clock
        )
        self.recorder = EventFactory(
            RECORDER_SERVICE,
            PIPELINE_VERSION,
            config_hash=self.config.config_hash(),
            clock=self.clock,
            now=_no_wall_clock,
        )
        starting = self.state.equity if self.state.starting_equity is not None else None
        self.result = SessionResult(
            session.session_id,
            self.next_sequence,
            self.next_sequence - 1,
            self.state,
            starting if starting is not None else self.config.session.starting_equity,
            started_from=origin.snapshot,
            snapshot_rejected=origin.rejected,
        )
        self.buffer: list[BaseEvent] = []
        self.since_snapshot = 0
        self.bar_index: Counter[str] = Counter()
        self.last_time: datetime | None = None

    # --- the session -------------------------------------------------------------------------
    def execute(self, bars: Iterator[Bar]) -> SessionResult:
        first = next(bars, None)
        if first is None:
            raise StoreError("the session has no market data: nothing was recorded")
        self.writer = BatchWriter(self.store, self.next_sequence)
        with relaxed_gc():
            try:
                done = self.record_all(first, bars)
            except BaseException:
                self.writer.abandon()
                raise
            self.writer.close()
        if self.progress is not None:
            self.progress(done, self.total or done)
        return self.result

    def record_all(self, first: Bar, rest: Iterator[Bar]) -> int:
        interrupted = find_interrupted(self.store)
        if interrupted is not None:
            self.note_interrupted(interrupted, first.time)
        self.open_session(first.time)
        done = 0
        for bar in _chain(first, rest):
            self.record_bar(bar)
            done += 1
            if self.progress is not None and done % 500 == 0:
                self.progress(done, self.total)
        self.close_session()
        return done

    def note_interrupted(self, interrupted: InterruptedSession, when: datetime) -> None:
        """Before anything else: the previous session ended without session_finished."""
        context = {**interrupted.context(), "noted_by_session": str(self.session.session_id)}
        alert = self.alert(
            SESSION_INTERRUPTED,
            interrupted.describe(),
            context,
            when,
            level=AlertLevel.WARNING,
            correlation_id=interrupted.session_id,  # `claire trace` of that session shows it
        )
        self.add_input(alert)
        self.result.interrupted = replace(interrupted, noted_at=self.next_sequence)

    def open_session(self, when: datetime) -> None:
        equity = self.result.starting_equity
        context = {
            "session_id": str(self.session.session_id),
            "starting_equity": equity,
            "source": self.session.source,
            "parameters": self.session.parameters,
            "config": self.config.to_document(),
            "config_hash": self.config.config_hash(),
            "pipeline": f"{self.pipeline.factory.metadata.service} {PIPELINE_VERSION}",
            # Which code decided in this session, also for a part of it without decisions.
            "code_version": self.pipeline.factory.metadata.code_version,
        }
        message = f"Session {self.session.session_id} started ({self.session.source})"
        self.add_input(self.alert(SESSION_STARTED, message, context, when))

    def close_session(self) -> None:
        assert self.last_time is not None
        summary = self.result.summary()
        context = {"events": self.result.total_events + len(self.buffer), **summary["pnl"]}
        message = f"Session {self.session.session_id} finished"
        self.add_input(self.alert(SESSION_FINISHED, message, context, self.last_time))
        self.flush()
        if not self.buffer:  # no snapshot pending from that flush: end on a fresh one
            self.emit_snapshot()
        self.flush(allow_snapshot=False)

    def record_bar(self, bar: Bar) -> None:
        index = self.bar_index[bar.symbol]
        self.bar_index[bar.symbol] = index + 1
        if index == 0:
            # The first bar of each symbol is validated in full (symbol and source text); the
            # rest share them and their numbers were checked by the source.
            payload: Payload = MarketDataPayload.model_validate(bar.payload(self.session.source))
        else:
            payload = bar.typed_payload(self.session.source)
        event = self.market.create(
            EventType.MARKET_DATA,
            payload,
            correlation_id=market_data_correlation(self.session.session_id, bar.symbol, index),
            timestamp_utc=bar.time,
        )
        self.add_input(event)

    def add_input(self, event: BaseEvent) -> None:
        decisions = self.pipeline.process(self.state, event)
        if decisions:
            # The next input must come after every decision in logical time.
            self.clock.observe(decisions[-1].timestamp_logical)
        self.buffer.append(event)
        self.buffer.extend(decisions)
        self.last_time = event.timestamp_utc
        session = self.config.session
        # Flush at the batch size, or sooner when the next snapshot is due.
        if len(self.buffer) >= min(
            session.batch_size, session.snapshot_every - self.since_snapshot
        ):
            self.flush()

    def alert(
        self,
        code: str,
        message: str,
        context: dict[str, Any],
        when: datetime,
        *,
        level: AlertLevel = AlertLevel.INFO,
        correlation_id: UUID | None = None,
    ) -> BaseEvent:
        return self.recorder.create(
            EventType.ALERT,
            {"level": level, "code": code, "message": message, "context": context},
            correlation_id=correlation_id or self.session.session_id,
            timestamp_utc=when,
        )

    # --- storing -----------------------------------------------------------------------------
    def flush(self, *, allow_snapshot: bool = True) -> None:
        if not self.buffer:
            return
        batch, self.buffer = self.buffer, []
        # The writer stores it in the background; its sequence numbers are known already.
        last = self.writer.submit(batch)
        self.state.last_sequence = last
        self.result.last_sequence = last
        for event in batch:
            self.tally(event)
        self.since_snapshot += len(batch)
        if allow_snapshot and self.since_snapshot >= self.config.session.snapshot_every:
            self.emit_snapshot()

    def emit_snapshot(self) -> None:
        """Snapshot the state as of the last stored event; it is stored with the next batch."""
        payload = StateSnapshotPayload(
            at_sequence=self.state.last_sequence,
            state=self.state.to_document(),
            state_hash=self.state.hash(),
        )
        assert self.last_time is not None
        snapshot = self.recorder.create(
            EventType.STATE_SNAPSHOT,
            payload,
            correlation_id=self.session.session_id,
            timestamp_utc=self.last_time,
        )
        self.state.apply(snapshot)
        self.buffer.append(snapshot)
        self.since_snapshot = 0

    def tally(self, event: BaseEvent) -> None:
        result = self.result
        kind = event.event_type
        result.events_by_type[kind.value] += 1
        payload = event.payload
        if kind is EventType.STATE_SNAPSHOT:
            result.snapshots += 1
        elif kind is EventType.ORDER_RESULT:
            result.fees += Decimal(payload["fee"])
        elif kind is EventType.RISK_DECISION:
            checks = payload["risk_checks"]
            if "stop_loss" in checks:
                result.stop_losses += 1
                if result.example_correlation_id is None:
                    result.example_correlation_id = event.correlation_id
            elif "take_profit" in checks:
                result.take_profits += 1
            elif payload["approved"]:
                result.entries_approved += 1
                if result.example_decision_id is None:
                    result.example_decision_id = event.event_id
            else:
                result.entries_rejected += 1


def _chain(first: Bar, rest: Iterator[Bar]) -> Iterator[Bar]:
    yield first
    yield from rest


def _no_wall_clock() -> datetime:
    raise RuntimeError("the recorder stamps every event with its market data time")
