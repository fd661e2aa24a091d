"""In-process fan-out: topics to subscribers, frames encoded once.

A topic is ``conv:<id>`` (everyone in or watching a conversation), ``user:<id>`` (every
connection of one identity) or ``staff`` (every agent and admin).  Publishing never
blocks: each subscriber takes the frame without waiting (its own bounded queue) or drops
itself as a slow consumer.  The Redis backend for several nodes implements the same
interface
(:mod:`qandu.redis_bus`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

import attrs
import trio


class Subscriber(Protocol):
    """A receiver of frames, usually one WebSocket connection."""

    def deliver(self, topic: str, frame: bytes, *, staff_only: bool = False, seq: int | None = None) -> None:
        """Queue ``frame`` without blocking (dropping the subscriber when it is too slow).

        ``seq`` is set on ``message.new`` frames so that a resuming connection can
        drop what it already sent.
        """

    def passed(self, topic: str, seq: int) -> None:
        """Message ``seq`` was published without us: we sent it (and were excluded)."""

    def resync(self) -> None:
        """Fan-out may have missed frames (the Redis link was down): catch up from the database."""


@attrs.frozen
class BusStatistics:
    topics: int
    subscriptions: int
    published: int
    delivered: int
    relayed_in: int = 0
    """Publications received from other nodes (Redis backend)."""
    relayed_out: int = 0
    """Publications sent to other nodes (Redis backend)."""
    dropped: int = 0
    """Publications not relayed because the outbox was full (Redis backend)."""
    connected: bool | None = None
    """Whether the link to Redis is up (None: in-process bus)."""


def conversation_topic(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


def user_topic(user_id: str) -> str:
    return f"user:{user_id}"


STAFF_TOPIC = "staff"


class Bus:
    """Topic-based fan-out inside one process."""

    def __init__(self) -> None:
        self._topics: defaultdict[str, set[Subscriber]] = defaultdict(set)
        self._published = 0
        self._delivered = 0

    def subscribe(self, topic: str, subscriber: Subscriber) -> None:
        self._topics[topic].add(subscriber)

    def unsubscribe(self, topic: str, subscriber: Subscriber) -> None:
        subscribers = self._topics.get(topic)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._topics[topic]

    def unsubscribe_all(self, subscriber: Subscriber, topics: set[str]) -> None:
        for topic in topics:
            self.unsubscribe(topic, subscriber)

    def publish(
        self,
        topic: str,
        frame: bytes,
        *,
        staff_only: bool = False,
        seq: int | None = None,
        exclude: object = None,
    ) -> int:
        """Deliver ``frame`` to every subscriber of ``topic`` but ``exclude``; return how many."""
        self._published += 1
        return self.deliver_local(topic, frame, staff_only=staff_only, seq=seq, exclude=exclude)

    def deliver_local(
        self,
        topic: str,
        frame: bytes,
        *,
        staff_only: bool = False,
        seq: int | None = None,
        exclude: object = None,
    ) -> int:
        """Hand ``frame`` to this process's subscribers of ``topic`` only."""
        count = 0
        for subscriber in tuple(self._topics.get(topic, ())):
            if subscriber is not exclude:
                subscriber.deliver(topic, frame, staff_only=staff_only, seq=seq)
                count += 1
            elif seq is not None:
                subscriber.passed(topic, seq)
        self._delivered += count
        return count

    def subscriber_count(self, topic: str) -> int:
        """Subscribers of ``topic`` in this process."""
        return len(self._topics.get(topic, ()))

    def has_audience(self, topic: str) -> bool:
        """Whether a publication on ``topic`` could reach anyone (worth building the frame)."""
        return bool(self._topics.get(topic))

    async def ready(self, topic: str) -> None:
        """Return once frames published on ``topic`` anywhere reach this process's subscribers.

        Immediate in process; the Redis backend waits for Redis to confirm the subscription.
        """

    async def followed_elsewhere(self, topic: str) -> bool:
        """Whether another node has subscribers of ``topic`` (never, in process)."""
        return False

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Nothing to run in process (the Redis backend keeps its link up here)."""
        task_status.started()

    def statistics(self) -> BusStatistics:
        return BusStatistics(
            topics=len(self._topics),
            subscriptions=sum(len(s) for s in self._topics.values()),
            published=self._published,
            delivered=self._delivered,
        )
