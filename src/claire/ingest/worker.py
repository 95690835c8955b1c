"""The ingest worker: Redis Stream (consumer group) -> EventStore.append, losslessly.

The rules, and why they make ingestion lossless and duplicate-free:
- a batch read with XREADGROUP is appended in one store transaction, and its messages are
  acknowledged (XACK) only after that commit; a crash in between leaves them pending, and the
  redelivery appends nothing twice because appends are idempotent by event_id;
- on start (and after every lost connection) the worker first re-processes its own pending
  messages, and it claims (XAUTOCLAIM) messages another consumer left pending for longer
  than `claim_idle_ms`, so a dead worker's batch is finished by a live one;
- a message that can never be stored goes to the dead-letter stream with its reason and is
  acknowledged in the same MULTI; a refused batch is split in halves until the refusing
  message is found, so one poison message never blocks the messages around it;
- an event whose cause is not stored yet stays pending and is retried until
  `causation_grace_ms` (measured on Redis's clock from the message id) has passed.

Throughput: the next batch is read and validated while the current one commits in a
background thread (one batch in flight at most, committed in stream order, acknowledged by
the committing thread after its commit). Anything else the loop does (pending messages,
claims, recovery, stopping) first waits for the batch in flight, so those paths see the
same one-batch-at-a-time worker as before.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import redis

from claire.errors import (
    CausationError,
    ClaireError,
    EventConflictError,
    EventValidationError,
    StoreError,
    StoreUnavailableError,
)
from claire.events.model import BaseEvent
from claire.gc_tuning import relaxed_gc
from claire.ingest.deadletters import dead_letter_fields
from claire.ingest.metrics import APPEND_LATENCY, DEAD_LETTERS, EVENTS_APPENDED, INGEST_ERRORS
from claire.ingest.streams import (
    EventTooLargeError,
    IngestConfig,
    Message,
    connect_redis,
    decode_message,
    message_id_ms,
    read_raw_stream_replies,
    stream_entries,
)
from claire.store.facade import open_store
from claire.store.port import EventStore

log = logging.getLogger("claire.ingest")

TRIM_INTERVAL_S = 1.0
# Allocations between young-generation collections while a worker runs (CPython's default
# is 700): a batch allocates ~50 objects per event that all live until it commits.


@dataclass(frozen=True, slots=True)
class Item:
    """A message whose event passed validation."""

    message_id: bytes
    fields: dict[bytes, bytes]
    event: BaseEvent


@dataclass(frozen=True, slots=True)
class DeadItem:
    message_id: bytes
    fields: dict[bytes, bytes]
    reason: str
    kind: str


@dataclass(frozen=True, slots=True)
class Prepared:
    """A batch read and validated, ready to commit: its valid events, the messages that are
    dead letters already, and the ids of entries deleted from the stream while pending."""

    items: list[Item]
    dead: list[DeadItem]
    gone: list[bytes]


@dataclass(slots=True)
class Outcome:
    stored: list[Item] = field(default_factory=list)
    dead: list[DeadItem] = field(default_factory=list)
    waiting: list[Item] = field(default_factory=list)

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            self.stored + other.stored, self.dead + other.dead, self.waiting + other.waiting
        )


@dataclass(slots=True)
class WorkerCounts:
    """What this worker did since it started (for logs, tests and benchmarks)."""

    stored: int = 0
    dead: int = 0
    batches: int = 0
    claimed: int = 0
    reconnects: int = 0


class Backoff:
    """Exponential delays for reconnecting: 0.1 s, 0.2 s, ... up to `cap`."""

    def __init__(self, first: float = 0.1, cap: float = 5.0) -> None:
        self.first, self.cap = first, cap
        self._delay = first

    def next(self) -> float:
        delay = self._delay
        self._delay = min(self.cap, delay * 2)
        return delay

    def reset(self) -> None:
        self._delay = self.first


class CommitPipeline:
    """At most one batch committing in a background thread while the caller reads the next.

    Batches commit one after the other in the order submitted, so a cause in one batch is
    stored before its effects in the next. An error of the commit is raised by the next
    `submit` or `drain`, to the caller's own error handling.
    """

    def __init__(self, commit: Callable[[Prepared], bool]) -> None:
        self._commit = commit
        self._executor: ThreadPoolExecutor | None = None
        self._in_flight: Future[bool] | None = None

    def submit(self, batch: Prepared) -> bool:
        """Wait for the batch in flight, then start committing `batch`.

        Returns whether the batch that finished left messages waiting for their cause."""
        waiting = self.drain()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claire-commit")
        self._in_flight = self._executor.submit(self._commit, batch)
        return waiting

    def drain(self) -> bool:
        """Wait for the batch in flight (if any); raise its error or return its `waiting`."""
        in_flight, self._in_flight = self._in_flight, None
        return in_flight.result() if in_flight is not None else False

    def close(self) -> None:
        """Stop the commit thread (after the batch in flight, if any)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class IngestWorker:
    """One consumer of the group. Several may run at once, in any processes.

    `store` is a URL (the worker opens it, and reopens it after an outage) or an open store.
    `on_commit` is called with the items of every committed batch (benchmarks time it), in
    the committing thread, after the batch is acknowledged.
    """

    def __init__(
        self,
        store: EventStore | str,
        redis_url: str,
        config: IngestConfig | None = None,
        *,
        on_commit: Callable[[list[Item]], None] | None = None,
    ) -> None:
        self.config = config or IngestConfig()
        self._store_url = store if isinstance(store, str) else None
        self._store: EventStore | None = None if isinstance(store, str) else store
        self.redis = connect_redis(redis_url, block_ms=self.config.block_ms)
        read_raw_stream_replies(self.redis)
        self._pipeline = CommitPipeline(self._commit)
        self.on_commit = on_commit
        self.stop_event = threading.Event()
        self.counts = WorkerCounts()
        self._waiting = False
        self._batch_now_ms: int | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, acknowledge it and return."""
        self.stop_event.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the worker gracefully (main thread only)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %s: finishing the batch in hand, then stopping", signum)
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def close(self) -> None:
        if self._store is not None and self._store_url is not None:
            self._store.close()
            self._store = None
        self.redis.close()

    @property
    def store(self) -> EventStore:
        if self._store is None:
            assert self._store_url is not None
            self._store = open_store(self._store_url)
        return self._store

    def run(self) -> None:
        """Consume until stopped; survive Redis and store outages by backing off."""
        try:
            with relaxed_gc():
                self._consume()
        finally:
            try:
                self._finish_in_flight()
            finally:
                self._pipeline.close()
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
                    self._ensure_group()
                    self._process_own_pending()
                    recovering = False
                if now >= next_claim:
                    self._claim_abandoned()
                    next_claim = now + cfg.claim_idle_ms / 2000
                if self._waiting and now >= next_retry:
                    self._process_own_pending()
                    next_retry = now + cfg.retry_interval_ms / 1000
                block = min(cfg.block_ms, cfg.retry_interval_ms) if self._waiting else cfg.block_ms
                messages = self._read(">", block_ms=block)
                if messages:
                    # Validated while the batch before commits; submitted once that is done.
                    self._waiting |= self._pipeline.submit(self._prepare(messages))
                else:
                    self._drain()  # idle: nothing stays in flight
                if cfg.trim and now >= next_trim:
                    self._trim_consumed()
                    next_trim = now + TRIM_INTERVAL_S
                backoff.reset()
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                # The stream or group vanished (Redis restarted without persistence).
                log.warning("consumer group missing, creating it again: %s", exc)
                self._finish_in_flight()
                recovering = True
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self._finish_in_flight()
                recovering = self._outage("redis", exc, backoff)
            except StoreUnavailableError as exc:
                self._finish_in_flight()
                self._drop_store()
                recovering = self._outage("store", exc, backoff)

    def _drain(self) -> None:
        self._waiting |= self._pipeline.drain()

    def _finish_in_flight(self) -> None:
        """Let the batch in flight end; if its commit failed on an outage, its messages stay
        pending and are processed again once the worker has recovered (or by another one)."""
        try:
            self._drain()
        except (redis.ConnectionError, redis.TimeoutError, StoreUnavailableError) as exc:
            if isinstance(exc, StoreUnavailableError):
                self._drop_store()
            log.warning("the batch in flight was not settled (%s); it stays pending", exc)

    def _outage(self, dependency: str, exc: Exception, backoff: Backoff) -> bool:
        delay = backoff.next()
        self.counts.reconnects += 1
        INGEST_ERRORS.labels(dependency).inc()
        log.warning("%s unavailable (%s); retrying in %.1f s", dependency, exc, delay)
        self.stop_event.wait(delay)
        return True

    def _drop_store(self) -> None:
        if self._store_url is None or self._store is None:
            return
        try:
            self._store.close()
        except Exception:  # the connection is already broken; closing it may fail too
            log.debug("closing the broken store failed", exc_info=True)
        self._store = None

    # --- reading -----------------------------------------------------------------------------
    def _ensure_group(self) -> None:
        try:
            # From id 0: events published before the first worker started are ingested too.
            self.redis.xgroup_create(self.config.stream, self.config.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str | bytes, *, block_ms: int | None = None) -> list[Message]:
        reply: Any = self.redis.xreadgroup(
            self.config.group,
            self.config.consumer,
            {self.config.stream: start},
            count=self.config.batch_size,
            block=block_ms,
        )
        return stream_entries(reply)

    def _process_own_pending(self) -> None:
        """Re-process every message delivered to this consumer and not yet acknowledged."""
        waiting = False
        start: bytes = b"0"
        while True:
            messages = self._read(start)
            if not messages:
                break
            waiting |= self._process(messages)
            start = messages[-1][0]
        self._waiting = waiting

    def _claim_abandoned(self) -> None:
        """Take over messages another consumer left pending longer than claim_idle_ms."""
        start: bytes | str = "0-0"
        while True:
            reply: Any = self.redis.xautoclaim(
                self.config.stream,
                self.config.group,
                self.config.consumer,
                min_idle_time=self.config.claim_idle_ms,
                start_id=start,
                count=self.config.batch_size,
            )
            start, messages = reply[0], list(reply[1])
            if messages:
                self.counts.claimed += len(messages)
                log.info("claimed %d messages left pending by another consumer", len(messages))
                self._waiting |= self._process(messages)
            if start in (b"0-0", "0-0"):
                return

    # --- processing --------------------------------------------------------------------------
    def _process(self, messages: list[Message]) -> bool:
        """Store, dead-letter or keep waiting each message; acknowledge what is settled.

        Returns whether some messages are still waiting for their cause.
        """
        return self._commit(self._prepare(messages))

    @staticmethod
    def _prepare(messages: list[Message]) -> Prepared:
        """Validate each message's event (no store or Redis access: runs beside a commit)."""
        items: list[Item] = []
        dead: list[DeadItem] = []
        gone: list[bytes] = []
        for message_id, fields in messages:
            if not fields:  # deleted from the stream while pending: nothing left to store
                gone.append(message_id)
                continue
            try:
                items.append(Item(message_id, fields, decode_message(fields)))
            except EventValidationError as exc:
                kind = "too_large" if isinstance(exc, EventTooLargeError) else "invalid"
                dead.append(DeadItem(message_id, fields, f"invalid event: {exc}", kind))
        return Prepared(items, dead, gone)

    def _commit(self, batch: Prepared) -> bool:
        """Append the batch, then dead-letter and acknowledge what is settled (in that order).

        Returns whether some messages are still waiting for their cause.
        """
        self._batch_now_ms = None  # Redis's clock, read once per batch and only when needed
        outcome = Outcome(dead=batch.dead)
        if batch.items:
            outcome = outcome + self._store_isolating(batch.items)
        settled = [i.message_id for i in outcome.stored] + [d.message_id for d in outcome.dead]
        self._settle(settled + batch.gone, outcome.dead)
        self.counts.batches += 1
        self.counts.stored += len(outcome.stored)
        self.counts.dead += len(outcome.dead)
        if outcome.stored and self.on_commit is not None:
            self.on_commit(outcome.stored)
        return bool(outcome.waiting)

    def _store_isolating(self, items: list[Item]) -> Outcome:
        """Append all in one transaction; if the store refuses, halve until the culprit is
        alone (a handful of extra transactions per poison message, none in the normal case)."""
        try:
            self._append(items)
            return Outcome(stored=items)
        except StoreUnavailableError:
            raise
        except (StoreError, EventValidationError) as exc:
            # EventValidationError: the store could not encode an event that passed validation
            # (e.g. its canonical form grew past 1 MiB): that message's fault, like a refusal.
            refusal: StoreError | EventValidationError = exc
        except ClaireError:
            raise
        except Exception as exc:  # a driver error the adapter did not translate: treat as outage
            raise StoreUnavailableError(f"store failed: {exc!r}") from exc
        if len(items) == 1:
            return self._refused(items[0], refusal)
        middle = len(items) // 2
        return self._store_isolating(items[:middle]) + self._store_isolating(items[middle:])

    def _refused(self, item: Item, exc: StoreError | EventValidationError) -> Outcome:
        if isinstance(exc, EventValidationError):
            return Outcome(
                dead=[DeadItem(item.message_id, item.fields, f"invalid event: {exc}", "invalid")]
            )
        if isinstance(exc, EventConflictError):
            return Outcome(
                dead=[DeadItem(item.message_id, item.fields, f"conflict: {exc}", "conflict")]
            )
        if isinstance(exc, CausationError):
            age_ms = self._now_ms() - message_id_ms(item.message_id)
            if age_ms < self.config.causation_grace_ms:
                return Outcome(waiting=[item])
            reason = (
                f"unknown cause: {exc} (waited {age_ms / 1000:.1f} s, "
                f"grace period {self.config.causation_grace_ms / 1000:.1f} s)"
            )
            return Outcome(dead=[DeadItem(item.message_id, item.fields, reason, "causation")])
        # Any other refusal: the message's fault only if the store itself is healthy.
        try:
            self.store.head()
        except Exception as probe:
            raise StoreUnavailableError(f"store failed: {exc} (then: {probe})") from exc
        return Outcome(
            dead=[DeadItem(item.message_id, item.fields, f"store refused: {exc}", "refused")]
        )

    def _append(self, items: list[Item]) -> None:
        started = time.perf_counter()
        self.store.append([i.event for i in items])
        APPEND_LATENCY.labels("ingest").observe(time.perf_counter() - started)
        for event_type, count in Counter(i.event.event_type.value for i in items).items():
            EVENTS_APPENDED.labels(event_type, "ingest").inc(count)

    def _settle(self, ack_ids: list[bytes], dead: list[DeadItem]) -> None:
        """Write dead letters and acknowledge, atomically (MULTI/EXEC)."""
        if not ack_ids:
            return
        pipe = self.redis.pipeline(transaction=True)
        for item in dead:
            pipe.xadd(
                self.config.dead_stream,
                dead_letter_fields(
                    source_stream=self.config.stream,
                    source_id=item.message_id,
                    fields=item.fields,
                    reason=item.reason,
                    consumer=self.config.consumer,
                ),
            )
        pipe.xack(self.config.stream, self.config.group, *ack_ids)
        pipe.execute()
        for item in dead:
            DEAD_LETTERS.labels(item.kind).inc()
            log.warning("dead letter %s: %s", item.message_id.decode(), item.reason)

    def _now_ms(self) -> int:
        """Redis's time (ms) when the batch's first missing cause was found."""
        if self._batch_now_ms is None:
            seconds, micros = self.redis.time()
            self._batch_now_ms = int(seconds) * 1000 + int(micros) // 1000
        return self._batch_now_ms

    # --- housekeeping ------------------------------------------------------------------------
    def _trim_consumed(self) -> None:
        """Delete entries every group has acknowledged, so XLEN is the real backlog."""
        client: Any = self.redis  # the stubs leave these two commands untyped
        groups = client.xinfo_groups(self.config.stream)
        floor: tuple[int, int] | None = None
        for group in groups:
            # The commit thread may acknowledge the last pending message between the two
            # calls: XPENDING then has no `min`, and everything up to the last delivered id
            # (as XINFO saw it) is acknowledged, exactly as when nothing was pending.
            lowest = None
            if int(group["pending"]) > 0:
                lowest = client.xpending(self.config.stream, group["name"])["min"]
            if lowest is not None:
                candidate = _parse_id(lowest)
            else:
                ms, seq = _parse_id(group["last-delivered-id"])
                candidate = (ms, seq + 1)
            floor = candidate if floor is None else min(floor, candidate)
        if floor is not None and floor > (0, 0):
            self.redis.xtrim(self.config.stream, minid=f"{floor[0]}-{floor[1]}", approximate=False)


def _parse_id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


def run_worker(store_url: str, redis_url: str, config: IngestConfig) -> WorkerCounts:
    """Run one worker in this (main) thread until SIGTERM/SIGINT."""
    worker = IngestWorker(store_url, redis_url, config)
    worker.install_signal_handlers()
    try:
        worker.run()
    finally:
        worker.close()
    return worker.counts
