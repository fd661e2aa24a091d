"""A chat client that survives its node: it reconnects to another one, resumes, and resends.

It does what ``docs/protocol.md`` asks of a client: after a dropped connection it connects
again (to the next node still running), sends ``resume`` with the last seq it has without a
hole, and sends unacknowledged messages again with the same ``clientMsgId``.  Everything it
receives is kept per connection (a :class:`Link`), so tests can check what the *server*
sent on each one: nothing twice, in seq order, and after a resume exactly what was missed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs
import trio
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from qandu.client import new_id
from qandu.domain import Content
from qandu.gateway import protocol as p
from tests.cluster.harness import Node

RECONNECT_DELAY = 0.1
"""Seconds between a lost connection and the next attempt (a client's backoff)."""


@attrs.define
class Link:
    """One connection: the node it went to, the frames it got, and where it resumed.

    ``ready_seq`` is the conversation's ``lastSeq`` in ``ready``: live frames start after it.
    """

    node: str
    ready_seq: int | None = None
    frames: list[dict[str, Any]] = attrs.Factory(list)
    resumed_after: int | None = None

    def new_seqs(self, conversation_id: str) -> list[int]:
        return [
            f["message"]["seq"]
            for f in self.frames
            if f["type"] == "message.new" and f["message"]["conversationId"] == conversation_id
        ]


@attrs.define
class _Waiter:
    event: trio.Event = attrs.Factory(trio.Event)
    frame: dict[str, Any] | None = None


class Peer:
    """One participant of a conversation (customer or staff) over any node of ``nodes``.

    ``base`` is the seq the peer starts with (it has everything up to it).
    """

    def __init__(
        self,
        name: str,
        token: str,
        conversation_id: str,
        nodes: Sequence[Node],
        *,
        base: int = 0,
        subscribe: bool = False,
    ) -> None:
        self.name = name
        self.token = token
        self.conversation_id = conversation_id
        self.nodes = list(nodes)
        self.base = base
        self.subscribe = subscribe
        self.links: list[Link] = []
        self.acked: list[dict[str, Any]] = []
        self.resends = 0
        self._ws: Any = None
        self._connected = trio.Event()
        self._changed = trio.Event()
        self._waiters: dict[str, _Waiter] = {}

    # -- what it has ------------------------------------------------------------------------

    def seen(self) -> set[int]:
        """Every seq it has: received, acked as its own, or had from the start."""
        seqs = set(range(1, self.base + 1)) | {m["seq"] for m in self.acked}
        for link in self.links:
            seqs.update(link.new_seqs(self.conversation_id))
        return seqs

    def contiguous(self) -> int:
        """The highest seq it has with nothing missing before it: where a resume starts."""
        seen, seq = self.seen(), self.base
        while seq + 1 in seen:
            seq += 1
        return seq

    def delivered(self) -> list[int]:
        """The ``message.new`` seqs of every connection, one after the other."""
        return [seq for link in self.links for seq in link.new_seqs(self.conversation_id)]

    async def until(self, predicate: Callable[[Peer], Any], timeout: float = 30.0) -> Any:
        """Wait until ``predicate(self)`` holds (checked after each frame and reconnect)."""
        with trio.move_on_after(timeout):
            while not (result := predicate(self)):
                await self._changed.wait()
            return result
        raise AssertionError(f"{self.name} waited in vain; {self.describe()}")

    def describe(self) -> str:
        return f"{self.name}: base {self.base}, acked {sorted(m['seq'] for m in self.acked)}, " + "; ".join(
            f"{link.node}: {link.new_seqs(self.conversation_id)}" for link in self.links
        )

    # -- the connection loop ----------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Stay connected (cancel the surrounding scope to stop); started once first connected."""
        status: trio.TaskStatus[None] | None = task_status
        while True:
            node = self._pick()
            try:
                async with open_websocket_url(f"{node.ws_url}?token={self.token}") as ws:
                    await self._serve(ws, node, status)
            except (ConnectionClosed, HandshakeError, OSError, trio.BrokenResourceError):
                pass
            if self.links:
                status = None  # started already
            self._lost()
            await trio.sleep(RECONNECT_DELAY)

    def _pick(self) -> Node:
        """The node it was on if it still runs, else the next one that does."""
        current = next((n for n in self.nodes if self.links and n.name == self.links[-1].node), self.nodes[0])
        start = self.nodes.index(current)
        ordered = self.nodes[start:] + self.nodes[:start]
        return next((node for node in ordered if node.running), current)

    async def _serve(self, ws: Any, node: Node, task_status: trio.TaskStatus[None] | None) -> None:
        ready = p.decode_server_frame(await ws.get_message())
        assert ready["type"] == "ready", ready
        listed = [c["lastSeq"] for c in ready["conversations"] if c["id"] == self.conversation_id]
        link = Link(node.name, listed[0] if listed else None)
        if self.links:  # a reconnect: ask for what was missed
            link.resumed_after = self.contiguous()
            await ws.send_message(
                p.encode_client_frame(p.Resume(self.conversation_id, link.resumed_after, ref=new_id()))
            )
        elif self.subscribe:  # staff watching: follow it live from the ack on
            ref = new_id()
            await ws.send_message(p.encode_client_frame(p.Subscribe(self.conversation_id, ref=ref)))
            while (frame := p.decode_server_frame(await ws.get_message())).get("ref") != ref:
                link.frames.append(frame)
            assert frame["type"] == "ack", frame
        self.links.append(link)
        self._ws = ws
        self._connected.set()
        if task_status is not None:
            task_status.started()
        while True:
            frame = p.decode_server_frame(await ws.get_message())
            link.frames.append(frame)
            waiter = self._waiters.pop(frame.get("ref") or "", None)
            if waiter is not None:
                waiter.frame = frame
                waiter.event.set()
            self._notify()

    def _lost(self) -> None:
        self._ws = None
        self._connected = trio.Event()
        waiters, self._waiters = self._waiters, {}
        for waiter in waiters.values():
            waiter.event.set()  # without a frame: send again on the next connection
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    # -- sending ----------------------------------------------------------------------------

    async def send(self, text: str) -> dict[str, Any]:
        """Send a message until it is acked (again after a reconnect, same ``clientMsgId``)."""
        key = new_id()
        attempts = 0
        while True:
            await self._connected.wait()
            ws, ref = self._ws, new_id()
            waiter = self._waiters[ref] = _Waiter()
            frame = p.SendMessage(self.conversation_id, key, Content(text=text), ref=ref)
            attempts += 1
            try:
                await ws.send_message(p.encode_client_frame(frame))
            except (ConnectionClosed, trio.BrokenResourceError):
                self._waiters.pop(ref, None)
                await trio.sleep(RECONNECT_DELAY)  # the reader notices the loss too
                continue
            await waiter.event.wait()
            if waiter.frame is None:
                continue
            if attempts > 1:
                self.resends += 1
            assert waiter.frame["type"] == "ack", f"{self.name}: {waiter.frame}"
            self.acked.append(waiter.frame["message"])
            self._notify()
            return waiter.frame["message"]
