"""The load of the cluster scenario (:mod:`benchmarks.cluster`), and what it checks and measures.

Rooms: ``conversations`` conversations; the customer of conversation ``i`` is created on and
connected to node ``i % N``, and ``watchers`` agents watch it (``subscribe``) from node
``(i + 1) % N``: each agent holds one connection per node and watches there the rooms that
node serves.  With two or more nodes every delivery crosses Redis.

Two phases, on the same connections:

- **rate**: the customers send at an aggregate ``rate`` per second, spread evenly (open loop);
- **max**: every customer sends its next message as soon as the previous one is acked
  (closed loop) for the same duration: the messages/s the layout sustains.

Every text carries its send time, so each delivery gives a send -> receive latency on
another node's connection.  Correctness is checked on every frame: each watcher must get every
message of its conversation exactly once and in seq order (no duplicate, no inversion, no
skipped seq), with the seq its sender's ack carried, and no sender may get its own message
back.  A watcher connection the server closes (4008: a slow consumer) does what the protocol
asks: it reconnects and resumes each conversation after the last seq it saw; the checks go on
across the resume, and the closes are reported.  CPU is read from outside (psutil) for each
node, Redis and the PostgreSQL backends serving the nodes.
"""

from __future__ import annotations

import contextlib
import gc
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
import psycopg
import trio
from prometheus_client.parser import text_string_to_metric_families
from trio_websocket import ConnectionClosed

from benchmarks.fanout import quiesce
from benchmarks.loadgen import (
    Peer,
    PeerClosed,
    Progress,
    QanduTarget,
    close_all,
    open_connection,
    open_many,
)
from benchmarks.servers import ServerProcess
from benchmarks.stats import Latency

DRAIN_TIMEOUT = 15.0
"""Seconds to wait, after a phase, for every ack and delivery."""
LATE = 0.3
"""Seconds to keep listening after the last delivery: anything arriving then is a duplicate."""
EXAMPLES = 10
"""Violations described in full (for reproduction), per layout."""
IDLE = 3.0
"""Seconds of quiet, before the phases, to measure what the processes use doing nothing."""


@dataclass
class Violations:
    """Everything that breaks "every watcher gets every message exactly once, in seq order"."""

    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    """A seq arriving after a greater one."""
    skipped: int = 0
    """A seq arriving more than one past the previous one (the watcher jumped a message)."""
    wrong_seq: int = 0
    """A delivery whose seq differs from the one in its sender's ack."""
    misrouted: int = 0
    echoed: int = 0
    """A sender receiving its own message as ``message.new``."""
    errors: int = 0
    """``error`` frames and unanswered sends."""
    closed: int = 0
    """Sender connections the server closed (watchers reconnect and resume instead)."""
    examples: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return (
            self.lost
            + self.duplicated
            + self.out_of_order
            + self.skipped
            + self.wrong_seq
            + self.misrouted
            + self.echoed
            + self.errors
            + self.closed
        )

    def note(self, text: str) -> None:
        if len(self.examples) < EXAMPLES:
            self.examples.append(text)

    def brief(self) -> str:
        counts = {k: v for k, v in vars(self).items() if k != "examples" and v}
        if not counts:
            return "0 violations"
        return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())


@dataclass
class Phase:
    name: str
    sent: int
    acked: int
    seconds: float
    """From the first send until every ack and delivery arrived (or the drain gave up)."""
    expected: int
    delivered: int
    latency: Latency
    cpu_ms: dict[str, float]
    """CPU ms per acked message: each node, ``redis``, ``postgresql`` (the nodes' backends)."""
    client_cpu: float
    """Load generator CPU during the phase, in cores."""
    commits: int
    """The writers' group commits during the phase (every node)."""
    writes: int
    """Write jobs in those commits: each message, and the receipts, status changes... around it."""

    @property
    def per_second(self) -> float:
        """Messages stored and delivered to every watcher, per second."""
        return self.acked / self.seconds if self.seconds else 0.0

    @property
    def nodes_cpu_ms(self) -> float:
        return sum(v for k, v in self.cpu_ms.items() if k.startswith("node-"))


@dataclass
class Measured:
    """What :func:`measure` saw of one layout."""

    connections: int
    rate: Phase
    max: Phase
    violations: Violations
    counters: dict[str, dict[str, float]]
    """Per node, at the end: the ``qandu_bus_*`` (relayed in/out, dropped) and
    ``qandu_gateway_*`` (slow consumers...) metrics."""
    reconnects: dict[int, int]
    """Watcher connections the server closed (by close code), reconnected and resumed."""
    setup_seconds: float
    idle_cores: dict[str, float]
    """CPU of each process with every connection open and nothing sent, in cores."""


def postgres_backends(nodes: list[ServerProcess], dsn: str) -> list[int]:
    """Process ids of the PostgreSQL backends serving the nodes' connections (local server only)."""
    ports = {
        c.laddr.port
        for node in nodes
        for c in psutil.Process(node.pid).net_connections(kind="tcp")
        if c.raddr and c.raddr.port == 5432
    }
    if not ports:
        return []
    with psycopg.connect(dsn, autocommit=True) as db:
        rows = db.execute("SELECT pid, client_port FROM pg_stat_activity WHERE client_port IS NOT NULL")
        return [pid for pid, port in rows.fetchall() if port in ports]


class Meter:
    """CPU seconds of the layout's processes: each node, Redis, the nodes' PostgreSQL backends."""

    def __init__(self, nodes: list[ServerProcess], redis: ServerProcess | None, postgres_dsn: str) -> None:
        self.nodes = nodes
        self.redis = redis
        self.postgres_dsn = postgres_dsn

    def read(self) -> dict[str, float]:
        out = {node.name: node.cpu_seconds() for node in self.nodes}
        if self.redis is not None:
            out["redis"] = self.redis.cpu_seconds()
        for pid in postgres_backends(self.nodes, self.postgres_dsn):
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                out[f"pg:{pid}"] = times.user + times.system
        return out

    @staticmethod
    def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
        """CPU seconds used between two readings by process; backends are summed as ``postgresql``."""
        out: dict[str, float] = {}
        for key, value in after.items():
            name = "postgresql" if key.startswith("pg:") else key
            out[name] = out.get(name, 0.0) + value - before.get(key, 0.0)
        return out

    async def writes(self) -> tuple[float, float]:
        """Group commits and the write jobs in them, summed over the nodes."""
        counters = [await metrics(node, "qandu_store_") for node in self.nodes]
        return (
            sum(c.get("qandu_store_batches", 0.0) for c in counters),
            sum(c.get("qandu_store_jobs", 0.0) for c in counters),
        )


@dataclass
class Room:
    index: int
    conversation_id: str
    customer: Peer | None = None
    acked: dict[tuple[str, int], int] = field(default_factory=dict)
    """(phase, k) -> the seq in the ack."""
    sent: dict[str, int] = field(default_factory=dict)
    """Messages sent per phase."""


class Watch:
    """What one agent connection saw of one room."""

    __slots__ = ("got", "last", "node", "room", "seqs")

    def __init__(self, room: Room, node: str) -> None:
        self.room = room
        self.node = node
        self.last: int | None = None
        self.seqs: set[int] = set()
        self.got: dict[tuple[str, int], int] = {}
        """(phase, k) -> the seq delivered."""


class Recorder:
    """Frame callbacks for every connection: latencies, acks and every violation."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.violations = Violations()
        self.latencies: dict[str, list[float]] = {"rate": [], "max": []}
        self.last_event = 0.0
        """When the newest ack or first delivery of a message arrived (``perf_counter``)."""
        self.reconnects: Counter[int] = Counter()
        self.stopping = False
        """Set before the load generator closes its connections: no more reconnecting."""

    def on_agent_frame(self, peer: Peer, frame: dict[str, Any], now: float) -> None:
        kind = frame["type"]
        if kind == "error":
            self.violations.errors += 1
            self.violations.note(f"{self.label}: error frame to a watcher: {frame}")
            return
        if kind != "message.new":
            return
        message = frame["message"]
        watch: Watch | None = peer.tag.get(message["conversationId"])
        v = self.violations
        if watch is None:
            v.misrouted += 1
            v.note(f"{self.label}: message.new for unwatched conversation {message['conversationId']}")
            return
        seq = message["seq"]
        where = f"{self.label}: watcher on {watch.node}, room {watch.room.index}"
        if watch.last is not None:
            if seq in watch.seqs:
                v.duplicated += 1
                v.note(f"{where}: seq {seq} again (newest so far {watch.last})")
            elif seq < watch.last:
                v.out_of_order += 1
                v.note(f"{where}: seq {seq} after {watch.last}")
            elif seq > watch.last + 1:
                v.skipped += 1
                v.note(f"{where}: seq {seq} right after {watch.last}")
        watch.seqs.add(seq)
        watch.last = seq if watch.last is None else max(watch.last, seq)
        text = message["content"].get("text") or ""
        if not text.startswith("clu "):
            return  # the warm-up message and the bot's handoff notice
        _, phase, room, k, stamp = text.split(" ")
        if int(room) != watch.room.index:
            v.misrouted += 1
            v.note(f"{where}: got room {room}'s message {k}")
            return
        key = (phase, int(k))
        if key not in watch.got:
            watch.got[key] = seq
            self.latencies[phase].append(now - float(stamp))
            self.last_event = max(self.last_event, now)

    def on_customer_frame(self, peer: Peer, frame: dict[str, Any], now: float) -> None:
        kind = frame["type"]
        if kind == "ack":
            self.record_ack(peer.tag, frame, now)
        elif kind == "error":
            self.violations.errors += 1
            self.violations.note(f"{self.label}: error frame to a sender: {frame}")
        elif kind == "message.new" and (frame["message"]["content"].get("text") or "").startswith("clu "):
            room: Room = peer.tag
            self.violations.echoed += 1
            self.violations.note(
                f"{self.label}: room {room.index} ({room.conversation_id}): the sender got its own"
                f" message back as message.new, seq {frame['message']['seq']}"
            )

    def record_ack(self, room: Room, frame: dict[str, Any], now: float) -> None:
        message = frame.get("message") or {}
        text = (message.get("content") or {}).get("text") or ""
        if text.startswith("clu "):
            _, phase, _, k, _ = text.split(" ")
            room.acked[(phase, int(k))] = message["seq"]
            self.last_event = max(self.last_event, now)


def _send_frame(room: Room, phase: str, k: int) -> dict[str, Any]:
    text = f"clu {phase} {room.index} {k} {time.perf_counter():.6f}"
    return {
        "type": "message.send",
        "conversationId": room.conversation_id,
        "clientMsgId": uuid.uuid4().hex,
        "content": {"type": "text", "text": text},
    }


async def measure(
    label: str,
    nodes: list[ServerProcess],
    meter: Meter,
    *,
    conversations: int,
    watchers: int,
    rate: float,
    duration: float,
    settle: float,
    progress: Progress,
) -> Measured:
    """Set the rooms up over ``nodes``, measure what they use idle, then both phases."""
    n = len(nodes)
    targets = [QanduTarget(node) for node in nodes]
    recorder = Recorder(label)
    setup_started = time.perf_counter()
    try:
        # Customer i: created on node i % n.  Its watchers: on node (i + 1) % n.
        created = [await t.customers(len(range(j, conversations, n))) for j, t in enumerate(targets)]
        customers = [created[i % n][i // n] for i in range(conversations)]
        tokens = await targets[0].agent_tokens(watchers)  # valid on every node: one secret
        rooms = [Room(i, c.conversation_id) for i, c in enumerate(customers)]
        async with trio.open_nursery() as nursery:
            peers: list[Peer] = []
            for j, node in enumerate(nodes):
                mine = [r for r in rooms if r.index % n == j]
                opened = await open_many(nursery, node.ws_url, [customers[r.index].token for r in mine])
                for room, ws in zip(mine, opened, strict=True):
                    room.customer = Peer(ws, recorder.on_customer_frame, room)
                    peers.append(room.customer)
            watches: list[Watch] = []
            agents: list[Peer] = []
            for j, node in enumerate(nodes):
                watched = [r for r in rooms if (r.index + 1) % n == j]
                if not watched:
                    continue
                for ws, token in zip(await open_many(nursery, node.ws_url, tokens), tokens, strict=True):
                    peer = Peer(ws, recorder.on_agent_frame, {}, token=token)
                    for room in watched:
                        peer.tag[room.conversation_id] = Watch(room, node.name)
                        watches.append(peer.tag[room.conversation_id])
                    agents.append(peer)
                    nursery.start_soon(_keep_watching, peer, nursery, node.ws_url, recorder)
            for peer in peers:
                nursery.start_soon(peer.run)
            peers += agents

            async def subscribe(peer: Peer) -> None:
                for conversation_id in peer.tag:
                    await peer.request(type="subscribe", conversationId=conversation_id)

            async def warm_up(room: Room) -> None:
                assert room.customer is not None
                await room.customer.request(**_warm_up(room))

            async with trio.open_nursery() as setup:
                for peer in agents:
                    setup.start_soon(subscribe, peer)
            async with trio.open_nursery() as setup:
                for room in rooms:
                    setup.start_soon(warm_up, room)
            await quiesce(peers, settle)  # the bot hands each conversation to the queue
            closed = [p for p in peers if p.closed is not None]
            if closed:
                raise RuntimeError(f"{label}: {len(closed)} connections closed by the server in set-up")
            setup_seconds = time.perf_counter() - setup_started
            gc.collect()
            gc.freeze()
            idle_cores = await _idle(meter, min(IDLE, duration))

            rate_phase = await _phase(
                "rate", rooms, watches, recorder, meter, rate=rate, duration=duration, progress=progress
            )
            max_phase = await _phase(
                "max",
                rooms,
                watches,
                recorder,
                meter,
                rate=None,
                duration=duration,
                progress=progress,
            )

            gc.unfreeze()
            recorder.stopping = True
            for room in rooms:
                if room.customer is not None and room.customer.closed is not None:
                    recorder.violations.closed += 1
                    recorder.violations.note(f"{label}: the server closed a sender: {room.customer.closed}")
            counters = {node.name: await metrics(node, "qandu_bus_", "qandu_gateway_") for node in nodes}
            await close_all([p.ws for p in peers])
            nursery.cancel_scope.cancel()
    finally:
        for target in targets:
            await target.aclose()
    _lost_and_mismatched(rooms, watches, recorder.violations)
    return Measured(
        connections=len(peers),
        rate=rate_phase,
        max=max_phase,
        violations=recorder.violations,
        counters=counters,
        reconnects=dict(recorder.reconnects),
        setup_seconds=setup_seconds,
        idle_cores=idle_cores,
    )


async def _keep_watching(peer: Peer, nursery: trio.Nursery, ws_url: str, recorder: Recorder) -> None:
    """Read a watcher's connection; if the server closes it (4008: a slow consumer), do what the
    protocol asks: reconnect and ``resume`` each watched conversation after the last seq seen.

    The order and exactly-once checks go on across the resume."""
    while True:
        await peer.run()
        if recorder.stopping or peer.closed is None:
            return
        recorder.reconnects[peer.closed] += 1
        peer.ws, _ = await open_connection(nursery, ws_url, peer.token)
        peer.closed = None
        nursery.start_soon(_resume, peer, recorder)  # its answers need the reader below


async def _resume(peer: Peer, recorder: Recorder) -> None:
    watches: dict[str, Watch] = peer.tag
    for conversation_id, watch in watches.items():
        try:
            await peer.request(type="resume", conversationId=conversation_id, afterSeq=watch.last or 0)
        except (ConnectionClosed, PeerClosed):
            return  # closed again: :func:`_keep_watching` reconnects and resumes from there
        except RuntimeError as exc:
            recorder.violations.errors += 1
            recorder.violations.note(
                f"{recorder.label}: resume on {watch.node}, room {watch.room.index}: {exc}"
            )
            return


async def _idle(meter: Meter, seconds: float) -> dict[str, float]:
    """CPU of each process (cores) over ``seconds`` with every connection open and no traffic."""
    before, started = meter.read(), time.perf_counter()
    await trio.sleep(seconds)
    used = Meter.used(before, meter.read())
    return {k: v / (time.perf_counter() - started) for k, v in used.items()}


def _warm_up(room: Room) -> dict[str, Any]:
    return {
        "type": "message.send",
        "conversationId": room.conversation_id,
        "clientMsgId": uuid.uuid4().hex,
        "content": {"type": "text", "text": "hello, warming up"},
    }


async def _phase(
    name: str,
    rooms: list[Room],
    watches: list[Watch],
    recorder: Recorder,
    meter: Meter,
    *,
    rate: float | None,
    duration: float,
    progress: Progress,
) -> Phase:
    """Open loop at ``rate`` messages/s in all, or (``rate=None``) closed loop: each customer
    sends its next message as soon as the previous one is acked."""
    me = psutil.Process()
    commits_before, writes_before = await meter.writes()
    # (the meter's few blocking calls happen before the sends and after the drain)
    cpu_before, client_before = meter.read(), sum(me.cpu_times()[:2])
    start = trio.current_time() + 0.1
    began = time.perf_counter() + 0.1
    errors_before = recorder.violations.errors
    recorder.last_event = 0.0

    async def open_loop(room: Room) -> None:
        assert room.customer is not None and rate is not None
        per_room = max(1, round(rate * duration / len(rooms)))
        for k in range(per_room):
            await trio.sleep_until(start + (k * len(rooms) + room.index) / rate)
            frame = _send_frame(room, name, k)
            frame["id"] = f"{name}{k}"
            try:
                await room.customer.send(**frame)
            except ConnectionClosed:
                return  # counted in ``closed``; what was not sent is not expected
            room.sent[name] = k + 1
            progress(1)

    async def closed_loop(room: Room) -> None:
        assert room.customer is not None
        await trio.sleep_until(start)
        deadline = start + duration
        k = 0
        while trio.current_time() < deadline:
            room.sent[name] = k + 1
            try:
                ack = await room.customer.request(**_send_frame(room, name, k))
            except RuntimeError as exc:
                recorder.violations.errors += 1
                recorder.violations.note(f"{recorder.label}: room {room.index}, {name} {k}: {exc}")
                return
            recorder.record_ack(room, ack, time.perf_counter())
            k += 1
            progress(1)

    async with trio.open_nursery() as nursery:
        for room in rooms:
            nursery.start_soon(open_loop if rate is not None else closed_loop, room)

    def complete() -> bool:
        acked = all(sum(1 for p, _ in r.acked if p == name) >= r.sent.get(name, 0) for r in rooms)
        return acked and all(
            all((name, k) in w.got for k in range(w.room.sent.get(name, 0))) for w in watches
        )

    with trio.move_on_after(DRAIN_TIMEOUT):
        while not complete():
            await trio.sleep(0.05)
    finished = recorder.last_event if complete() else time.perf_counter()
    await trio.sleep(LATE)

    sent = sum(r.sent.get(name, 0) for r in rooms)
    acked = sum(1 for r in rooms for p, _ in r.acked if p == name)
    expected = sum(w.room.sent.get(name, 0) for w in watches)
    delivered = sum(1 for w in watches for p, _ in w.got if p == name)
    client_cpu = (sum(me.cpu_times()[:2]) - client_before) / (time.perf_counter() - began)
    cpu_ms = {k: v / acked * 1000 if acked else 0.0 for k, v in Meter.used(cpu_before, meter.read()).items()}
    commits, writes = await meter.writes()
    if recorder.violations.errors > errors_before and acked < sent:
        recorder.violations.note(f"{recorder.label}: {name}: {sent - acked} of {sent} sends not acked")
    return Phase(
        name=name,
        sent=sent,
        acked=acked,
        seconds=max(finished - began, 1e-9),
        expected=expected,
        delivered=delivered,
        latency=Latency.of(recorder.latencies[name]),
        cpu_ms=cpu_ms,
        client_cpu=client_cpu,
        commits=int(commits - commits_before),
        writes=int(writes - writes_before),
    )


def _lost_and_mismatched(rooms: list[Room], watches: list[Watch], v: Violations) -> None:
    """After both phases: messages a watcher never got, and deliveries whose seq is not the ack's."""
    for room in rooms:
        for phase, count in room.sent.items():
            for k in range(count):
                if (phase, k) not in room.acked:
                    v.errors += 1
                    v.note(f"room {room.index}: {phase} message {k} was never acked")
    for w in watches:
        for phase, count in w.room.sent.items():
            for k in range(count):
                seq = w.got.get((phase, k))
                acked = w.room.acked.get((phase, k))
                if seq is None:
                    v.lost += 1
                    v.note(
                        f"watcher on {w.node}, room {w.room.index}: {phase} {k} (acked as seq {acked}) lost"
                    )
                elif acked is not None and seq != acked:
                    v.wrong_seq += 1
                    v.note(
                        f"watcher on {w.node}, room {w.room.index}: {phase} {k} got seq {seq}, acked {acked}"
                    )


async def metrics(node: ServerProcess, *prefixes: str) -> dict[str, float]:
    """The node's unlabelled metrics whose names start with one of ``prefixes``, from ``/metrics``."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{node.http_url}/metrics")).text
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith(prefixes) and not sample.labels:
                out[sample.name.removesuffix("_total")] = sample.value
    return out


def describe_cpu(phase: Phase) -> str:
    """``node-1 1.20 + node-2 1.10 = 2.30 ms``, then Redis and PostgreSQL, per message."""
    nodes = {k: v for k, v in phase.cpu_ms.items() if k.startswith("node-")}
    text = " + ".join(f"{k} {v:.2f}" for k, v in nodes.items())
    if len(nodes) > 1:
        text += f" = {phase.nodes_cpu_ms:.2f}"
    text += " ms"
    for other in ("redis", "postgresql"):
        if other in phase.cpu_ms:
            text += f", {other} {phase.cpu_ms[other]:.2f} ms"
    return text
