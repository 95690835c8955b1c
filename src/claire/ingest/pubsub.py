"""Compatibility with the seed's producers, which PUBLISH events on the channel `claire:events`.

The listener moves every Pub/Sub message onto the ingest stream, where the worker validates,
stores or dead-letters it like any other. Pub/Sub itself is AT-MOST-ONCE: a message published
while no listener is subscribed (listener down, reconnecting, or disconnected by Redis because
it lagged behind) is lost, and Redis says nothing. Producers should publish to the stream with
EventPublisher instead. With several listeners every message is copied once per listener; the
store keeps each event_id once, but a poison message is dead-lettered once per copy.
"""

from __future__ import annotations

import logging
import threading

import redis

from claire.ingest.faults import Backoff
from claire.ingest.metrics import INGEST_ERRORS
from claire.ingest.streams import EVENT_FIELD, connect_redis
from claire.redact import redact_error

log = logging.getLogger("claire.ingest.pubsub")


class PubSubListener:
    """SUBSCRIBE `channel` and XADD each message's data to `stream` as its `event` field."""

    def __init__(self, redis_url: str, channel: str, stream: str) -> None:
        self.channel, self.stream = channel, stream
        self.redis = connect_redis(redis_url)
        self.stop_event = threading.Event()
        self.forwarded = 0

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        backoff = Backoff()
        while not self.stop_event.is_set():
            try:
                self._listen(backoff)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                INGEST_ERRORS.labels("redis_pubsub").inc()
                delay = backoff.next()
                log.warning(
                    "Pub/Sub listener lost Redis (%s); messages published meanwhile are lost; "
                    "retrying in %.1f s",
                    redact_error(exc),
                    delay,
                )
                self.stop_event.wait(delay)
        self.redis.close()

    def _listen(self, backoff: Backoff) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
            log.info("listening on Pub/Sub channel %s (at-most-once)", self.channel)
            while not self.stop_event.is_set():
                message = pubsub.get_message(timeout=0.5)
                if message is None or message.get("type") != "message":
                    continue
                data = message["data"]
                payload = data if isinstance(data, bytes) else str(data).encode()
                self.redis.xadd(self.stream, {EVENT_FIELD: payload})
                self.forwarded += 1
                backoff.reset()
        finally:
            pubsub.close()
