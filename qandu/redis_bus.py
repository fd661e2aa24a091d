"""Fan-out across nodes through Redis pub/sub (``[bus] backend = "redis"``).

Every node delivers its own publications to its local subscribers at once, exactly as the
in-process :class:`~qandu.bus.Bus` does, and relays them to one Redis channel per topic
(``<prefix>:conv:<id>``, ``<prefix>:user:<id>``, ``<prefix>:staff``).  A node subscribes
only to the channels of topics its own connections follow, and hands what other nodes
publish to those connections.

Redis is never on the path that stores and acknowledges a message: publications wait in a
bounded outbox while Redis is slow or away (beyond it they are dropped and counted).  What
a node missed meanwhile is recovered from the database: message frames carry their
``seq``, a connection that sees a gap reads the missing messages, and after the link comes
back every connection checks its conversations for messages it has not sent
(:meth:`~qandu.bus.Subscriber.resync`).

A relayed frame is an envelope: ``node \\0 publication \\0 staff_only \\0 seq \\0 frame``.
One publication sent to several topics keeps one publication id, so a node that receives
it on two channels hands its connections the same ``bytes`` object, which they deliver once.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
from collections import OrderedDict

import attrs
import coredis
import trio
from coredis.retry import NoRetryPolicy

from qandu.bus import Bus, BusStatistics
from qandu.config import BusConfig

log = logging.getLogger("qandu.bus")

BATCH = 256
"""Publications sent to Redis in one pipeline."""
RECENT = 256
"""Publication ids remembered to recognise one publication arriving on several channels."""
READY_TIMEOUT = 2.0
"""Seconds :meth:`RedisBus.ready` waits for Redis to confirm a subscription."""
MAX_BACKOFF = 2.0


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def encode_envelope(node: str, publication: str, staff_only: bool, seq: int | None, frame: bytes) -> bytes:
    header = f"{node}\0{publication}\0{int(staff_only)}\0{'' if seq is None else seq}\0"
    return header.encode() + frame


def decode_envelope(data: bytes) -> tuple[str, str, bool, int | None, bytes]:
    """Split an envelope; raise ``ValueError`` for anything else."""
    node, publication, staff_only, seq, frame = data.split(b"\0", 4)
    return (
        node.decode(),
        publication.decode(),
        staff_only == b"1",
        int(seq) if seq else None,
        frame,
    )


class RedisBus(Bus):
    """The in-process bus plus a Redis relay; :meth:`run` keeps the link up."""

    def __init__(self, config: BusConfig) -> None:
        super().__init__()
        self.config = config
        self.node_id = config.node_id or default_node_id()
        self._sender = f"{self.node_id}:{secrets.token_hex(4)}"
        """This process in envelopes: publication ids restart with the process, so a node
        restarted under the same ``node_id`` must not be taken for its earlier life."""
        self._prefix = f"{config.channel_prefix}:"
        self._outbox_in, self._outbox = trio.open_memory_channel[tuple[str, bytes]](config.outbox)
        self._counter = itertools.count(1)
        self._last_frame: bytes | None = None
        self._last_publication = ""
        self._recent: OrderedDict[str, bytes] = OrderedDict()
        self._wanted: set[str] = set()
        """Topics with local subscribers: the channels this node should be subscribed to."""
        self._confirmed: dict[str, trio.Event] = {}
        self._subscribed: set[str] = set()
        """Topics whose channels this node's Redis subscription currently holds."""
        self._commands: coredis.Redis[bytes] | None = None
        self._changed = trio.Event()
        self.connected = False
        self.dropped = 0
        self.relayed_in = 0
        self.relayed_out = 0
        self.reconnects = 0

    # -- the Bus interface -----------------------------------------------------------------

    def subscribe(self, topic: str, subscriber: object) -> None:  # type: ignore[override]
        super().subscribe(topic, subscriber)  # type: ignore[arg-type]
        if topic not in self._wanted:
            self._wanted.add(topic)
            self._changed.set()

    def unsubscribe(self, topic: str, subscriber: object) -> None:  # type: ignore[override]
        super().unsubscribe(topic, subscriber)  # type: ignore[arg-type]
        if topic in self._wanted and not self.subscriber_count(topic):
            self._wanted.discard(topic)
            self._changed.set()

    def publish(
        self,
        topic: str,
        frame: bytes,
        *,
        staff_only: bool = False,
        seq: int | None = None,
        exclude: object = None,
    ) -> int:
        count = super().publish(topic, frame, staff_only=staff_only, seq=seq, exclude=exclude)
        if frame is not self._last_frame:
            self._last_frame = frame
            self._last_publication = f"{next(self._counter):x}"
        envelope = encode_envelope(self._sender, self._last_publication, staff_only, seq, frame)
        try:
            self._outbox_in.send_nowait((self._prefix + topic, envelope))
        except trio.WouldBlock:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("bus outbox full: %d publications dropped so far", self.dropped)
        return count

    def has_audience(self, topic: str) -> bool:
        return True  # other nodes may have subscribers

    async def ready(self, topic: str) -> None:
        """Wait (briefly) until Redis confirmed this node's subscription to ``topic``."""
        if not self.connected:
            return
        event = self._confirmed.get(topic)
        if event is None:
            event = self._confirmed[topic] = trio.Event()
            self._changed.set()
        with trio.move_on_after(READY_TIMEOUT):
            await event.wait()

    async def followed_elsewhere(self, topic: str) -> bool:
        """Whether another node has subscribers of ``topic`` (asked from Redis: ``PUBSUB NUMSUB``).

        Call it after this node's last subscriber left: it first waits (briefly) until this
        node's own subscription is gone, so that only other nodes are counted.
        """
        if self.subscriber_count(topic):
            return True
        with trio.move_on_after(READY_TIMEOUT):
            while topic in self._subscribed and self.connected:
                await trio.sleep(0.01)
        if self._commands is None or not self.connected:
            return False
        channel = self._prefix + topic
        counts: dict[bytes, int] = {}
        try:
            with trio.move_on_after(READY_TIMEOUT):
                counts = await self._commands.pubsub_numsub(channel)
        except Exception as exc:
            log.debug("bus: PUBSUB NUMSUB failed (%s)", _reason(exc))
        return counts.get(channel.encode(), 0) - (topic in self._subscribed) > 0

    def statistics(self) -> BusStatistics:
        return attrs.evolve(
            super().statistics(),
            relayed_in=self.relayed_in,
            relayed_out=self.relayed_out,
            dropped=self.dropped,
            connected=self.connected,
        )

    # -- the link --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep a subscriber and a publisher connection to Redis, reconnecting with backoff.

        Starts at once: the node serves (and stores) while Redis is still away.
        """
        async with self._client() as self._commands, trio.open_nursery() as nursery:
            nursery.start_soon(self._subscriber)
            nursery.start_soon(self._publisher)
            task_status.started()

    async def _subscriber(self) -> None:
        backoff = 0.1
        lost = False
        while True:
            try:
                async with (
                    self._client() as client,
                    client.pubsub(retry_policy=NoRetryPolicy(), subscription_timeout=5) as pubsub,
                ):
                    self._confirmed = {}
                    self.connected = True
                    backoff = 0.1
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._follow_subscriptions, pubsub)
                        await self._subscriptions_caught_up()
                        if lost:
                            self.reconnects += 1
                            log.info("bus: Redis link restored; connections catch up from the database")
                        self._resync()  # for connections that started while the link was down
                        while True:
                            message = await pubsub.get_message()
                            if message is not None and message["type"] == "message":
                                self._relay(message["channel"], message["data"])
            except Exception as exc:
                if self.connected or not lost:
                    log.warning("bus: Redis link lost (%s); retrying", _reason(exc))
            except BaseExceptionGroup as group:
                raise_cancellation(group)
            self.connected = False
            lost = True
            await trio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _follow_subscriptions(self, pubsub: coredis.patterns.pubsub.PubSub) -> None:
        """Subscribe to the channels of topics that gained local subscribers, drop the rest."""
        subscribed = self._subscribed = set()
        while True:
            self._changed = trio.Event()
            wanted = set(self._wanted)
            add, remove = wanted - subscribed, subscribed - wanted
            if add:
                await pubsub.subscribe(*(self._prefix + t for t in sorted(add)))
                subscribed |= add
                for topic in add:
                    self._confirmed.setdefault(topic, trio.Event()).set()
            if remove:
                await pubsub.unsubscribe(*(self._prefix + t for t in sorted(remove)))
                subscribed -= remove
                for topic in remove:
                    self._confirmed.pop(topic, None)
            for topic, event in self._confirmed.items():
                if topic in subscribed:
                    event.set()
            if set(self._wanted) == subscribed:
                await self._changed.wait()

    async def _subscriptions_caught_up(self) -> None:
        for topic in tuple(self._wanted):
            await self.ready(topic)

    def _relay(self, channel: bytes, data: bytes) -> None:
        try:
            node, publication, staff_only, seq, frame = decode_envelope(data)
        except ValueError:
            log.warning("bus: ignoring a malformed publication on %r", channel)
            return
        if node == self._sender:
            return
        key = f"{node}/{publication}"
        known = self._recent.get(key)
        if known is not None:
            frame = known
        else:
            self._recent[key] = frame
            if len(self._recent) > RECENT:
                self._recent.popitem(last=False)
        self.relayed_in += 1
        topic = channel.decode().removeprefix(self._prefix)
        self.deliver_local(topic, frame, staff_only=staff_only, seq=seq)

    def _resync(self) -> None:
        """Ask every local subscriber to look for what it missed while the link was down."""
        seen: set[int] = set()
        for subscribers in tuple(self._topics.values()):
            for subscriber in tuple(subscribers):
                if id(subscriber) not in seen:
                    seen.add(id(subscriber))
                    subscriber.resync()

    async def _publisher(self) -> None:
        pending: list[tuple[str, bytes]] = []
        backoff = 0.1
        while True:
            try:
                async with self._client() as client:
                    while True:
                        if not pending:
                            pending.append(await self._outbox.receive())
                            while len(pending) < BATCH:
                                try:
                                    pending.append(self._outbox.receive_nowait())
                                except trio.WouldBlock:
                                    break
                        async with client.pipeline(transaction=False) as pipe:
                            for channel, envelope in pending:
                                pipe.publish(channel, envelope)
                        self.relayed_out += len(pending)
                        pending = []
                        backoff = 0.1
            except Exception as exc:
                log.debug("bus: publishing failed (%s); retrying", _reason(exc))
            except BaseExceptionGroup as group:
                raise_cancellation(group)
            await trio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _client(self) -> coredis.Redis[bytes]:
        return coredis.Redis.from_url(self.config.url, retry_policy=NoRetryPolicy())


def raise_cancellation(group: BaseExceptionGroup) -> None:
    """Re-raise only the cancellation of a group: coredis may add teardown errors to it."""
    cancelled, rest = group.split(trio.Cancelled)
    if cancelled is None:
        raise group
    if rest is not None:
        log.debug("bus: ignoring errors while the Redis link closes: %s", _reason(rest))
    raise cancelled from None


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"
