"""Scenarios 2 and 3: message fan-out and typing-indicator fan-out in many small rooms.

Rooms: ``conversations`` conversations, each with one customer (the sender) and
``participants - 1`` agents watching it with the ``subscribe`` frame.  For QanDu the agents
are ``participants - 1`` support accounts stored before the server starts
(``loadgen.create_agents``) and logged in once each.  Two ways to connect them:

- ``shared=True``: each agent holds one connection and watches every room on it, as an agent
  console does (``conversations + participants - 1`` connections);
- ``shared=False``: a connection per participant: each agent account holds one connection
  per room (``conversations * participants`` connections).

The bare server gets the same connections with made-up tokens.

Messages: the customers send at an aggregate ``rate`` per second, spread evenly (open loop:
a send never waits for the previous ack).  Each text carries the send time; every other
participant records the delay to its ``message.new`` and which messages it got, so that
lost, duplicated and misrouted deliveries are counted.

Typing: then the same customers send ``typing`` frames (alternately start/stop) at the same
rate.  A typing frame cannot carry a timestamp, but one connection's frames arrive in the
order they were sent, so the n-th typing frame a receiver gets in a room is matched to the
n-th one sent there (the counts prove the matching: any loss or duplicate shows up).
"""

from __future__ import annotations

import gc
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psutil
import trio
from trio_websocket import ConnectionClosed

from benchmarks.loadgen import Customer, Peer, Progress, Target, close_all, open_many
from benchmarks.stats import Latency

QUIET_TIMEOUT = 120.0
DRAIN_TIMEOUT = 10.0


@dataclass
class Delivery:
    """The outcome of one phase (messages or typing) at every receiver."""

    sent: int
    expected: int
    delivered: int
    lost: int
    duplicated: int
    misrouted: int
    latency: Latency
    send_seconds: float
    errors: int = 0
    acked: int | None = None
    server_cpu_ms: float = 0.0
    """Server CPU time per frame sent (with its deliveries), in ms."""
    client_cpu: float = 0.0
    """Load generator CPU during the phase, in cores (near 1.0: the client is the bottleneck)."""
    dropped: dict[int, int] = field(default_factory=dict)
    """Connections the server closed during the phase, by close code."""
    notes: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.misrouted == 0 and self.errors == 0


@dataclass
class Room:
    index: int
    customer: Customer
    sender: Peer | None = None
    receivers: list[Peer] = field(default_factory=list)
    typing_times: list[float] = field(default_factory=list)


class Receiver:
    """What one agent connection saw of one room."""

    __slots__ = ("room", "seen", "typing")

    def __init__(self, room: Room) -> None:
        self.room = room
        self.seen: dict[int, int] = {}
        self.typing = 0


class Recorder:
    """Frame callbacks for every connection, and the tallies."""

    def __init__(self) -> None:
        self.message_latencies: list[float] = []
        self.typing_latencies: list[float] = []
        self.misrouted_messages = 0
        self.misrouted_typing = 0
        self.acks = 0
        self.errors: list[dict[str, Any]] = []
        self.other: dict[str, int] = {}

    def on_agent_frame(self, peer: Peer, frame: dict[str, Any], now: float) -> None:
        watching: dict[str, Receiver] = peer.tag
        kind = frame["type"]
        if kind == "message.new":
            text = frame["message"]["content"].get("text") or ""
            if not text.startswith("fan "):
                return  # the warm-up message and the bot's handoff notice
            _, room, k, stamp = text.split(" ")
            receiver = watching.get(frame["message"]["conversationId"])
            if receiver is None or int(room) != receiver.room.index:
                self.misrouted_messages += 1
                return
            n = int(k)
            receiver.seen[n] = receiver.seen.get(n, 0) + 1
            if receiver.seen[n] == 1:
                self.message_latencies.append(now - float(stamp))
        elif kind == "typing":
            receiver = watching.get(frame["conversationId"])
            if receiver is None:
                self.misrouted_typing += 1
                return
            n = receiver.typing
            receiver.typing += 1
            times = receiver.room.typing_times
            if n < len(times):
                self.typing_latencies.append(now - times[n])
        elif kind == "error":
            self.errors.append(frame)
        else:
            self.other[kind] = self.other.get(kind, 0) + 1

    def on_customer_frame(self, peer: Peer, frame: dict[str, Any], now: float) -> None:
        kind = frame["type"]
        if kind == "ack":
            self.acks += 1
        elif kind == "error":
            self.errors.append(frame)


@dataclass
class FanoutResult:
    messages: Delivery
    typing: Delivery
    connections: int
    shared: bool
    """True: each agent watches every room on one connection; False: a connection per participant."""
    server_cpu: float
    other_frames: dict[str, int]
    setup_drops: dict[int, int]
    """Connections the server closed during set-up, by close code (reconnected before measuring)."""
    setup_seconds: float
    setup_frames: int
    setup_bytes: int


async def measure(
    target: Target,
    *,
    conversations: int,
    participants: int,
    rate: float,
    duration: float,
    shared: bool = False,
    settle: float = 1.0,
    progress: Progress | None = None,
) -> FanoutResult:
    """Measure message then typing fan-out.

    ``shared=False``: a connection per participant (each agent account holds one connection per
    room: ``conversations * participants`` connections).  ``shared=True``: each agent holds one
    connection and watches every room on it (``conversations + participants - 1`` connections).
    Either way every room has ``participants - 1`` receivers.
    """
    agents = participants - 1
    customers = await target.customers(conversations)
    tokens = await target.agent_tokens(agents)
    rooms = [Room(i, c) for i, c in enumerate(customers)]
    recorder = Recorder()
    tick = progress or (lambda _: None)

    setup_started = time.perf_counter()
    async with trio.open_nursery() as nursery:
        senders = await open_many(nursery, target.ws_url, [c.token for c in customers], tick)
        for room, ws in zip(rooms, senders, strict=True):
            room.sender = Peer(ws, recorder.on_customer_frame, room, token=room.customer.token)
            nursery.start_soon(room.sender.run)
        if shared:
            watcher_tokens = list(tokens)
            watched = [rooms for _ in tokens]
        else:
            watcher_tokens = [tokens[j] for _ in rooms for j in range(agents)]
            watched = [[room] for room in rooms for _ in range(agents)]
        watchers = await open_many(nursery, target.ws_url, watcher_tokens, tick)
        receivers: list[tuple[Peer, Receiver]] = []
        for ws, token, its_rooms in zip(watchers, watcher_tokens, watched, strict=True):
            peer = Peer(ws, recorder.on_agent_frame, {}, token=token)
            for room in its_rooms:
                receiver = Receiver(room)
                peer.tag[room.customer.conversation_id] = receiver
                room.receivers.append(peer)
                receivers.append((peer, receiver))
            nursery.start_soon(peer.run)
        peers = [room.sender for room in rooms if room.sender is not None]
        peers += list({id(p): p for room in rooms for p in room.receivers}.values())

        async def subscribe(peer: Peer) -> None:
            for conversation_id in peer.tag:
                await peer.request(type="subscribe", conversationId=conversation_id)

        async def warm_up(room: Room) -> None:
            assert room.sender is not None
            await room.sender.request(**_message(room, "hello, warming up"))

        async with trio.open_nursery() as setup:
            for peer in peers[len(rooms) :]:
                setup.start_soon(subscribe, peer)
        async with trio.open_nursery() as warmup:
            for room in rooms:
                warmup.start_soon(warm_up, room)
        # QanDu: each conversation's first message makes the bot hand it to the queue, and
        # every staff connection hears of each change: wait until that has flushed.
        setup_frames = await quiesce(peers, settle)
        # A connection the server dropped meanwhile (4008: its send queue overflowed) does
        # what the protocol asks: reconnect and subscribe again, before the clock starts.
        setup_drops: Counter[int] = Counter()
        for _ in range(3):
            dropped = [p for p in peers if p.closed is not None]
            if not dropped:
                break
            setup_drops.update(p.closed for p in dropped if p.closed is not None)
            for peer in dropped:
                await peer.reconnect(nursery, target.ws_url)
                if isinstance(peer.tag, dict):
                    await subscribe(peer)
            setup_frames = await quiesce(peers, settle)
        recorder.acks = 0
        setup_seconds = time.perf_counter() - setup_started
        # The load generator's own garbage collector should not pause the measurement:
        # move everything set up so far out of its reach.
        gc.collect()
        gc.freeze()
        setup_bytes = sum(p.bytes for p in peers)

        cpu = target.server.cpu_seconds()
        started = time.perf_counter()
        messages = await _phase(
            target, rooms, peers, receivers, recorder, rate=rate, duration=duration, typing=False, tick=tick
        )
        typing = await _phase(
            target, rooms, peers, receivers, recorder, rate=rate, duration=duration, typing=True, tick=tick
        )
        server_cpu = (target.server.cpu_seconds() - cpu) / (time.perf_counter() - started)

        gc.unfreeze()
        await close_all([p.ws for p in peers])
        nursery.cancel_scope.cancel()
    return FanoutResult(
        messages=messages,
        typing=typing,
        connections=len(peers),
        shared=shared,
        server_cpu=server_cpu,
        other_frames=recorder.other,
        setup_drops=dict(setup_drops),
        setup_seconds=setup_seconds,
        setup_frames=setup_frames,
        setup_bytes=setup_bytes,
    )


async def quiesce(peers: list[Peer], quiet_for: float) -> int:
    """Wait until no connection has received a frame for ``quiet_for`` seconds; return the frames seen."""
    last, quiet_since = -1, trio.current_time()
    with trio.move_on_after(QUIET_TIMEOUT):
        while True:
            total = sum(p.frames for p in peers)
            now = trio.current_time()
            if total != last:
                last, quiet_since = total, now
            elif now - quiet_since >= quiet_for:
                break
            await trio.sleep(0.1)
    return last


def _message(room: Room, text: str) -> dict[str, Any]:
    return {
        "type": "message.send",
        "conversationId": room.customer.conversation_id,
        "clientMsgId": uuid.uuid4().hex,
        "content": {"type": "text", "text": text},
    }


async def _phase(
    target: Target,
    rooms: list[Room],
    peers: list[Peer],
    receivers: list[tuple[Peer, Receiver]],
    recorder: Recorder,
    *,
    rate: float,
    duration: float,
    typing: bool,
    tick: Progress,
) -> Delivery:
    per_room = max(1, round(rate * duration / len(rooms)))
    start = trio.current_time() + 0.1
    errors_before = len(recorder.errors)
    cpu_before = target.server.cpu_seconds()
    me = psutil.Process()
    client_before, wall_before = sum(me.cpu_times()[:2]), time.perf_counter()
    open_before = {id(p) for p in peers if p.closed is None}

    async def sender(room: Room) -> None:
        assert room.sender is not None
        for k in range(per_room):
            await trio.sleep_until(start + (k * len(rooms) + room.index) / rate)
            try:
                if typing:
                    room.typing_times.append(time.perf_counter())
                    await room.sender.send(
                        type="typing",
                        conversationId=room.customer.conversation_id,
                        state="start" if k % 2 == 0 else "stop",
                    )
                else:
                    frame = _message(room, f"fan {room.index} {k} {time.perf_counter():.6f}")
                    frame["id"] = f"f{k}"
                    await room.sender.send(**frame)
            except ConnectionClosed:
                return  # dropped by the server: what was not sent counts as lost
            tick(1)

    began = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for room in rooms:
            nursery.start_soon(sender, room)
    send_seconds = time.perf_counter() - began

    def complete() -> bool:
        if typing:
            return all(r.typing >= per_room for _, r in receivers)
        return all(len(r.seen) >= per_room for _, r in receivers) and recorder.acks >= per_room * len(rooms)

    with trio.move_on_after(DRAIN_TIMEOUT):
        while not complete():
            await trio.sleep(0.05)
    await trio.sleep(0.3)  # anything arriving late would be a duplicate
    cpu = target.server.cpu_seconds() - cpu_before
    client_cpu = (sum(me.cpu_times()[:2]) - client_before) / (time.perf_counter() - wall_before)
    dropped = Counter(p.closed for p in peers if id(p) in open_before and p.closed is not None)

    sent = per_room * len(rooms)
    expected = sum(per_room for _ in receivers)
    if typing:
        delivered = sum(min(r.typing, per_room) for _, r in receivers)
        duplicated = sum(max(0, r.typing - per_room) for _, r in receivers)
        latencies, misrouted, acked = recorder.typing_latencies, recorder.misrouted_typing, None
    else:
        delivered = sum(len(r.seen) for _, r in receivers)
        duplicated = sum(n - 1 for _, r in receivers for n in r.seen.values())
        latencies, misrouted, acked = recorder.message_latencies, recorder.misrouted_messages, recorder.acks
    return Delivery(
        sent=sent,
        expected=expected,
        delivered=delivered,
        lost=expected - delivered,
        duplicated=duplicated,
        misrouted=misrouted,
        latency=Latency.of(latencies),
        send_seconds=send_seconds,
        errors=len(recorder.errors) - errors_before,
        acked=acked,
        server_cpu_ms=cpu / sent * 1000,
        client_cpu=client_cpu,
        dropped=dict(dropped),
        notes=[str(e) for e in recorder.errors[errors_before:][:3]],
    )
