"""The ingest worker: Redis Stream (consumer group) -> EventStore.append, losslessly.

The rules, and why they make ingestion lossless and duplicate-free:
- a batch read with XREADGROUP is appended in one store transaction, and its messages are
  acknowledged (XACK) only after that commit; a crash in between leaves them pending, and the
  redelivery appends nothing twice because appends are idempotent by event_id;
- on start (and after every outage) the worker first re-processes its own pending messages,
  and it claims (XAUTOCLAIM) messages another consumer left pending for longer than
  `claim_idle_ms`, so a dead worker's batch is finished by a live one;
- a passing outage is not a poison message (claire.ingest.faults): when Redis or the store
  fails for a reason that is not one event's fault, nothing is acknowledged, the worker backs
  off (with jitter) and starts again from its pending messages; `health` says `degraded`
  meanwhile and `claire_ingest_reconnects` counts it;
- a message proven bad on its own goes to the dead-letter stream with its reason and is
  acknowledged in the same MULTI; a batch the store refuses for one event's content is split
  in halves until that event is alone (claire.ingest.committer);
- an event whose cause is not stored yet stays pending and is retried until
  `causation_grace_ms` (measured on Redis's clock from the message id) has passed;
- a Redis error nobody expects (out of memory, a read-only replica) ends `run` with the error,
  for the Supervisor (claire.supervision) to restart the worker with backoff.

Who does what: StreamConsumer (consumer.py) is the Redis side, Committer and CommitPipeline
(committer.py) the store side, `prepare` (batches.py) the validation; this module is the loop
that ties them together and decides what an error means for the worker.

Throughput: the next batch is read and validated while the current one commits in a
background thread (one batch in flight at most, committed in stream order, acknowledged by
the committing thread after its commit). Anything else the loop does (pending messages,
claims, recovery, stopping) first waits for the batch in flight, so those paths see the
same one-batch-at-a-time worker.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

import redis

from claire.gc_tuning import relaxed_gc
from claire.ingest.batches import Item, prepare
from claire.ingest.committer import (
    CommitPipeline,
    Committer,
    StoreHandle,
    WorkerCounts,
)
from claire.ingest.consumer import StreamConsumer
from claire.ingest.faults import REDIS_OUTAGES, Backoff, StoreOutageError
from claire.ingest.metrics import INGEST_DEGRADED, INGEST_ERRORS
from claire.ingest.streams import IngestConfig, Message
from claire.redact import redact_error
from claire.store.port import EventStore
from claire.supervision import HealthBoard, State, Supervisor, TaskHealth

log = logging.getLogger("claire.ingest")

TRIM_INTERVAL_S = 1.0
OUTAGES = (*REDIS_OUTAGES, StoreOutageError)

__all__ = ["ClosingWorker", "IngestWorker", "Item", "WorkerCounts", "run_worker"]


class IngestWorker:
    """One consumer of the group. Several may run at once, in any processes.

    `store` is a URL (the worker opens it, and reopens it after an outage) or an open store.
    `on_commit` is called with the items of every committed batch (benchmarks time it), in
    the committing thread, after the batch is acknowledged. `health` receives the worker's
    state (ok / degraded / down) and its heartbeat.
    """

    def __init__(
        self,
        store: EventStore | str,
        redis_url: str,
        config: IngestConfig | None = None,
        *,
        on_commit: Callable[[list[Item]], None] | None = None,
        health: TaskHealth | None = None,
    ) -> None:
        self.config = config or IngestConfig()
        self.stores = StoreHandle(store)
        self.consumer = StreamConsumer(redis_url, self.config)
        self.counts = WorkerCounts()
        self.committer = Committer(self.stores, self.consumer, self.config, self.counts, on_commit)
        self._pipeline = CommitPipeline(self.committer.commit)
        self.health = health or TaskHealth("ingest")
        self.stop_event = threading.Event()
        self._waiting = False

    @property
    def redis(self) -> redis.Redis[bytes]:
        return self.consumer.redis

    @property
    def store(self) -> EventStore:
        return self.stores.get()

    # --- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, acknowledge it and return."""
        self.stop_event.set()

    def close(self) -> None:
        self.stores.close()
        self.consumer.close()

    def run(self) -> None:
        """Consume until stopped; back off through outages; raise what is not an outage."""
        try:
            with relaxed_gc():
                self._consume()
        finally:
            try:
                self._finish_in_flight()
            finally:
                self._pipeline.close()
                INGEST_DEGRADED.set(0)
        log.info("ingest worker %s stopped: %s", self.config.consumer, self.counts)

    def _consume(self) -> None:
        backoff = Backoff()
        recovering = True
        next_claim = next_retry = next_trim = 0.0
        cfg = self.config
        log.info("ingest worker %s reading %s (group %s)", cfg.consumer, cfg.stream, cfg.group)
        while not self.stop_event.is_set():
            try:
                now = time.monotonic()
                if recovering or now >= next_claim or (self._waiting and now >= next_retry):
                    self._drain()  # the one-batch-at-a-time paths below
                if recovering:
                    self.consumer.ensure_group()
                    self._waiting = any([self._process(m) for m in self.consumer.own_pending()])
                    recovering = False
                if now >= next_claim:
                    for messages in self.consumer.claim_abandoned():
                        self.counts.claimed += len(messages)
                        self._waiting |= self._process(messages)
                    next_claim = now + cfg.claim_idle_ms / 2000
                if self._waiting and now >= next_retry:
                    self._waiting = any([self._process(m) for m in self.consumer.own_pending()])
                    next_retry = now + cfg.retry_interval_ms / 1000
                block = min(cfg.block_ms, cfg.retry_interval_ms) if self._waiting else cfg.block_ms
                messages = self.consumer.read(">", block_ms=block)
                if messages:
                    # Validated while the batch before commits; submitted once that is done.
                    self._waiting |= self._pipeline.submit(
                        prepare(messages, cfg.trusted_snapshot_services)
                    )
                else:
                    self._drain()  # idle: nothing stays in flight
                if cfg.trim and now >= next_trim:
                    self.consumer.trim_consumed()
                    next_trim = now + TRIM_INTERVAL_S
                self._healthy(backoff)
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise  # not expected: the supervisor restarts the worker
                # The stream or group vanished (Redis restarted without persistence).
                log.warning("consumer group missing, creating it again: %s", redact_error(exc))
                self._finish_in_flight()
                recovering = True
            except OUTAGES as exc:
                self._finish_in_flight()
                recovering = self._outage(exc, backoff)

    def _process(self, messages: list[Message]) -> bool:
        """Store, dead-letter or keep waiting each message, now (no pipelining)."""
        waiting = self.committer.commit(prepare(messages, self.config.trusted_snapshot_services))
        self.health.beat()  # a long backlog of pending messages is progress, not a hang
        return waiting

    def _drain(self) -> None:
        self._waiting |= self._pipeline.drain()

    def _finish_in_flight(self) -> None:
        """Let the batch in flight end; if its commit failed on an outage, its messages stay
        pending and are processed again once the worker has recovered (or by another one)."""
        try:
            self._drain()
        except OUTAGES as exc:
            self._forget_broken_store(exc)
            log.warning("the batch in flight was not settled (%s); it stays pending", exc)

    # --- health ------------------------------------------------------------------------------
    def _healthy(self, backoff: Backoff) -> None:
        if backoff.attempts:
            log.info("ingest worker recovered after %d attempt(s)", backoff.attempts)
            INGEST_DEGRADED.set(0)
            backoff.reset()
        self.health.ok()

    def _outage(self, exc: Exception, backoff: Backoff) -> bool:
        """Report the outage and wait before starting again from the pending messages."""
        dependency = "store" if isinstance(exc, StoreOutageError) else "redis"
        self._forget_broken_store(exc)
        delay = backoff.next()
        self.counts.reconnects += 1
        INGEST_ERRORS.labels(dependency).inc()
        INGEST_DEGRADED.set(1)
        message = (
            f"{dependency} failing ({redact_error(exc)}); messages stay pending; "
            f"attempt {backoff.attempts}, retrying in {delay:.1f} s"
        )
        self.health.set(State.DEGRADED, message)
        log.warning("%s", message)
        self.stop_event.wait(delay)
        return True

    def _forget_broken_store(self, exc: BaseException) -> None:
        """After a store outage, open the store afresh: its connections may be broken, or be
        sessions that keep what the outage set (`ALTER DATABASE ... SET
        default_transaction_read_only` applies to new sessions only)."""
        if isinstance(exc, StoreOutageError):
            self.stores.drop()


class WorkerGaveUpError(RuntimeError):
    """The worker died more often in a row than its supervisor restarts it."""


def run_worker(
    store_url: str, redis_url: str, config: IngestConfig, *, max_restarts: int = 5
) -> WorkerCounts:
    """Run one supervised worker in this (main) thread until SIGTERM/SIGINT.

    A worker that dies is restarted with backoff; after `max_restarts` failures in a row this
    raises WorkerGaveUpError (the process should exit non-zero for its own supervisor)."""
    health = HealthBoard().register("ingest")
    workers: list[IngestWorker] = []
    gave_up: list[str] = []

    def make() -> IngestWorker:
        worker = IngestWorker(store_url, redis_url, config, health=health)
        workers.append(worker)
        return worker

    supervisor = Supervisor(
        lambda: ClosingWorker(make()),
        health,
        give_up=gave_up.append,
        max_restarts=max_restarts,
        self_reporting=True,
    )

    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing the batch in hand, then stopping", signum)
        supervisor.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    supervisor.run()
    if gave_up:
        raise WorkerGaveUpError(gave_up[0])
    return workers[-1].counts if workers else WorkerCounts()


class ClosingWorker:
    """A worker that closes its connections when its run ends, however it ends."""

    def __init__(self, worker: IngestWorker) -> None:
        self.worker = worker

    def run(self) -> None:
        try:
            self.worker.run()
        finally:
            self.worker.close()

    def stop(self) -> None:
        self.worker.stop()
