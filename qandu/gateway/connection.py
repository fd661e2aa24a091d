"""One authenticated WebSocket connection: reader, writer and heartbeat tasks.

Outbound frames go through a bounded queue; a client that stops reading fills it and is
closed with 4008 (it reconnects and resumes) instead of slowing anyone else down.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import TYPE_CHECKING, Any

import trio
from trio_websocket import ConnectionClosed, WebSocketConnection

import qandu
from qandu.bus import STAFF_TOPIC, conversation_topic, user_topic
from qandu.domain import Message, User
from qandu.errors import QanduError
from qandu.gateway import protocol as p

if TYPE_CHECKING:
    from qandu.app import App
    from qandu.gateway.server import Gateway

log = logging.getLogger("qandu.gateway")

RESUME_PAGE = 200
ABORT_GRACE = 1.0
"""Seconds a dropped connection gets to take its close frame before the socket is cut."""


class Connection:
    """Serves one user over one WebSocket; a :class:`qandu.bus.Subscriber`."""

    def __init__(self, app: App, gateway: Gateway, ws: WebSocketConnection, user: User) -> None:
        self.app = app
        self.chat = app.chat
        self.gateway = gateway
        self.ws = ws
        self.user = user
        self.topics: set[str] = set()
        self._send, self._outbox = trio.open_memory_channel[bytes](app.config.gateway.send_queue)
        self._scope = trio.CancelScope()
        self._close_code: tuple[int, str] | None = None
        self._dropping = False
        self._recent: deque[bytes] = deque(maxlen=8)
        self._writing = False
        self._nursery: trio.Nursery | None = None
        self._early: list[tuple[str, bytes, bool, int | None]] | None = []
        """Frames delivered before ``ready`` was queued (``None`` once it was)."""
        self._horizon: dict[str, int] = {}
        """Per conversation, the newest seq the client has or was told about (gaps beyond it are filled)."""
        self._last_sent: dict[str, int] = {}
        self._first_sent: dict[str, int] = {}
        self._resuming: dict[str, list[tuple[int, bytes | None]]] = {}
        self._catch_ups: dict[str, int] = {}
        self._catch_up_lock = trio.Lock()
        self._own_seqs: dict[str, set[int]] = {}
        """Seqs of our own messages waiting behind a catch-up (acked, so never sent as message.new)."""
        self._own_conversations: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            with self._scope:
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    await self._start()
                    nursery.start_soon(self._writer)
                    nursery.start_soon(self._heartbeat)
                    await self._reader()
                    nursery.cancel_scope.cancel()
        finally:
            self.app.bus.unsubscribe_all(self, self.topics)
            if self._early is None:  # connected() was called
                watched = [t.removeprefix("conv:") for t in self.topics if t.startswith("conv:")]
                with trio.CancelScope(shield=True):
                    await self.chat.disconnected(self.user, watched)
            # a frame cut off mid-write leaves the stream unusable: then just drop the socket
            if self._close_code is not None and not self.ws.closed and not self._writing:
                with trio.move_on_after(ABORT_GRACE, shield=True):
                    await self.ws.aclose(*self._close_code)

    async def _start(self) -> None:
        """Subscribe, then send ``ready`` with conversations read once the subscriptions hold.

        Reading after subscribing leaves no window in which a message is neither in ``ready``'s
        ``lastSeq`` nor delivered live (with several nodes, subscribing takes a round trip to
        Redis).  Frames arriving meanwhile are held back and follow ``ready``.
        """
        self._subscribe(user_topic(self.user.id))
        if self.user.is_staff:
            self._subscribe(STAFF_TOPIC)
        conversations = await self.chat.list_conversations(self.user, limit=100)
        for conversation in conversations:
            if conversation.is_participant(self.user.id):
                self._watch(conversation.id)
        for topic in tuple(self.topics):
            await self.app.bus.ready(topic)
        conversations = await self.chat.list_conversations(self.user, limit=100)
        self._own_conversations = [c.id for c in conversations if c.is_participant(self.user.id)]
        for conversation_id in self._own_conversations:
            self._watch(conversation_id)
        for conversation in conversations:
            if conversation.id in self._own_conversations:
                self._horizon[conversation.id] = conversation.last_seq
        # ready first: every other frame follows it (ready's lastSeq values are where resume starts)
        self._queue(
            p.ready_frame(self.user, conversations, self.app.config.gateway.heartbeat, qandu.__version__)
        )
        early, self._early = self._early or [], None
        self.chat.connected(self.user, self._own_conversations)
        for topic, frame, staff_only, seq in early:
            self.deliver(topic, frame, staff_only=staff_only, seq=seq)

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` after flushing what is already queued (used for draining)."""
        self._close_code = (code, reason)
        self._send.close()

    def _abort(self, code: int, reason: str) -> None:
        """Close without flushing: the slow-consumer and dead-peer path.

        The frame being written is finished and the close frame sent if the peer takes
        them within ``ABORT_GRACE``; otherwise the socket is cut.
        """
        self._close_code = (code, reason)
        self._dropping = True
        self.app.bus.unsubscribe_all(self, self.topics)
        self._send.close()
        self._scope.deadline = min(self._scope.deadline, trio.current_time() + ABORT_GRACE)

    # -- outbound --------------------------------------------------------------------------

    def deliver(self, topic: str, frame: bytes, *, staff_only: bool = False, seq: int | None = None) -> None:
        if self._early is not None:
            self._early.append((topic, frame, staff_only, seq))
            return
        if any(frame is recent for recent in self._recent):  # one publication, several topics
            return
        self._recent.append(frame)
        visible = self.user.is_staff or not staff_only
        if seq is None:
            if visible:
                self._queue(frame)
        else:
            self._sequenced(topic.removeprefix("conv:"), seq, frame if visible else None)

    def passed(self, topic: str, seq: int) -> None:
        """Our own message (``seq``) was published to others: we ack it instead."""
        if self._early is None:
            self._sequenced(topic.removeprefix("conv:"), seq, None, own=True)

    def resync(self) -> None:
        """Fan-out was interrupted: send the messages we missed in every conversation, and tell
        the client (``resync``) that other live frames (edits, queue changes...) may be lost."""
        if self._early is not None:  # ready is still to come, with everything current
            return
        for conversation_id in tuple(self._horizon):
            if conversation_id not in self._resuming:
                self._begin_catch_up(conversation_id)
                self._spawn(self._catch_up, conversation_id)
        self._queue(p.resync_frame())

    def _sequenced(self, conversation_id: str, seq: int, frame: bytes | None, *, own: bool = False) -> None:
        """Send message frames of a conversation once each and in seq order.

        ``frame`` is None for a seq the client does not get (a private note for a customer,
        or its own message).  A seq beyond the next one means a frame was missed (another
        node's publication not yet here, or lost while Redis was away): the missing messages
        are read from the database while later frames wait.
        """
        horizon = self._horizon.get(conversation_id)
        if conversation_id in self._resuming or (horizon is not None and seq > horizon + 1):
            if conversation_id not in self._resuming:
                self._begin_catch_up(conversation_id)
                self._spawn(self._catch_up, conversation_id)
            buffer = self._resuming[conversation_id]
            buffer.append((seq, frame))
            if own:  # the catch-up must not send it back as message.new
                self._own_seqs.setdefault(conversation_id, set()).add(seq)
            if len(buffer) > self.app.config.gateway.send_queue:
                self._slow()
            return
        if seq <= (horizon if horizon is not None else self._last_sent.get(conversation_id, 0)):
            return
        self._first_sent.setdefault(conversation_id, seq)
        self._last_sent[conversation_id] = self._horizon[conversation_id] = seq
        if frame is not None:
            self._queue(frame)

    def _spawn(self, task: Any, *args: Any) -> None:
        if self._nursery is not None:
            self._nursery.start_soon(task, *args)

    def _queue(self, frame: bytes) -> None:
        try:
            self._send.send_nowait(frame)
        except trio.WouldBlock:
            self._slow()
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # closing, or the writer has ended: the frame has nowhere to go

    def _slow(self) -> None:
        self.gateway.slow_consumers += 1
        log.info("closing slow consumer %s", self.user.id)
        self._abort(p.CloseCode.SLOW_CONSUMER, "slow consumer: send queue full; reconnect and resume")

    async def _writer(self) -> None:
        async with self._outbox:
            async for frame in self._outbox:
                if self._dropping:
                    break
                self._writing = True
                await self.ws.send_message(frame.decode())
                self._writing = False
        if self._close_code is not None:
            await self.ws.aclose(*self._close_code)
        self._scope.cancel()

    async def _heartbeat(self) -> None:
        config = self.app.config.gateway
        while True:
            await trio.sleep(config.heartbeat)
            with trio.move_on_after(config.heartbeat_timeout) as scope:
                await self.ws.ping()
            if scope.cancelled_caught:
                self._abort(p.CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
                return

    # -- inbound ---------------------------------------------------------------------------

    async def _reader(self) -> None:
        max_bytes = self.app.config.gateway.max_frame_bytes
        while True:
            try:
                data = await self.ws.get_message()
            except ConnectionClosed:
                return
            try:
                frame = p.decode_client_frame(data, max_bytes=max_bytes)
            except p.FrameError as exc:
                self._queue(p.frame_error_to_frame(exc))
                continue
            try:
                await self._handle(frame)
            except QanduError as exc:
                self._queue(p.error_frame(exc.code, exc.message, field=exc.field, ref=frame.ref))
            except Exception:
                log.exception("error handling %s from %s", type(frame).__name__, self.user.id)
                self._queue(
                    p.error_frame("internal", "internal error; the frame was not processed", ref=frame.ref)
                )

    async def _handle(self, frame: Any) -> None:
        handler = getattr(self, f"_on_{type(frame).__name__}")
        await handler(frame)

    def _ack(self, frame: Any, message: Message | None = None) -> None:
        self._queue(p.ack_frame(frame.ref, message))

    async def _on_SendMessage(self, frame: p.SendMessage) -> None:
        message, _ = await self.chat.send_message(
            self.user,
            conversation_id=frame.conversation_id,
            client_msg_id=frame.client_msg_id,
            content=frame.content,
            reply_to=frame.reply_to,
            attachment_ids=frame.attachments,
            private=frame.private,
            origin=self,
        )
        self._watch(message.conversation_id)
        if message.conversation_id not in self._horizon:  # not followed before: start here
            self._sequenced(message.conversation_id, message.seq, None)
        self._ack(frame, message)

    async def _on_EditMessage(self, frame: p.EditMessage) -> None:
        self._ack(frame, await self.chat.edit_message(self.user, frame.message_id, frame.text))

    async def _on_DeleteMessage(self, frame: p.DeleteMessage) -> None:
        self._ack(frame, await self.chat.delete_message(self.user, frame.message_id))

    async def _on_AddReaction(self, frame: p.AddReaction) -> None:
        await self.chat.react(self.user, frame.message_id, frame.emoji, add=True)
        self._ack(frame)

    async def _on_RemoveReaction(self, frame: p.RemoveReaction) -> None:
        await self.chat.react(self.user, frame.message_id, frame.emoji, add=False)
        self._ack(frame)

    async def _on_SendReceipt(self, frame: p.SendReceipt) -> None:
        await self.chat.record_receipt(self.user, frame.conversation_id, frame.status, frame.seq)
        self._ack(frame)

    async def _on_Typing(self, frame: p.Typing) -> None:
        topic = conversation_topic(frame.conversation_id)
        if topic not in self.topics:
            await self.chat.readable(self.user, frame.conversation_id)
            self._watch(frame.conversation_id)
        typing = p.typing_frame(frame.conversation_id, self.user, frame.state)
        self.app.bus.publish(topic, typing, exclude=self)

    async def _on_Subscribe(self, frame: p.Subscribe) -> None:
        conversation = await self.chat.readable(self.user, frame.conversation_id)
        if conversation.id not in self._horizon and conversation.id not in self._resuming:
            # what is newer than this is sent, filled from storage if Redis was slow to subscribe
            self._horizon[conversation.id] = conversation.last_seq
        self._watch(conversation.id)
        await self.app.bus.ready(conversation_topic(conversation.id))
        self._ack(frame)

    async def _on_Unsubscribe(self, frame: p.Unsubscribe) -> None:
        topic = conversation_topic(frame.conversation_id)
        if topic in self.topics:
            self.topics.discard(topic)
            self.app.bus.unsubscribe(topic, self)
            if frame.conversation_id not in self._resuming:  # a later subscribe starts afresh
                for known in (self._horizon, self._first_sent, self._last_sent, self._own_seqs):
                    known.pop(frame.conversation_id, None)
        self._ack(frame)

    async def _on_SetPresence(self, frame: p.SetPresence) -> None:
        await self.app.routing.set_status(self.user, frame.status)
        self._ack(frame)

    async def _on_SubmitCsat(self, frame: p.SubmitCsat) -> None:
        await self.app.teamwork.csat.answer(
            self.user,
            frame.conversation_id,
            rating=frame.rating,
            comment=frame.comment,
            survey_id=frame.survey_id,
        )
        self._ack(frame)

    async def _on_Ping(self, frame: p.Ping) -> None:
        self._queue(p.pong_frame(frame.ref))

    async def _on_Resume(self, frame: p.Resume) -> None:
        """Send every message after ``after_seq`` exactly once, in order, then ``resumed``."""
        conversation_id = frame.conversation_id
        await self.chat.readable(self.user, conversation_id)
        self._begin_catch_up(conversation_id)
        self._watch(conversation_id)
        await self.app.bus.ready(conversation_topic(conversation_id))
        last, count = await self._catch_up(conversation_id, frame.after_seq)
        self._queue(p.resumed_frame(conversation_id, last, count, ref=frame.ref))

    def _begin_catch_up(self, conversation_id: str) -> None:
        """Hold live message frames of the conversation until a :meth:`_catch_up` sent the past."""
        self._resuming.setdefault(conversation_id, [])
        self._catch_ups[conversation_id] = self._catch_ups.get(conversation_id, 0) + 1

    async def _catch_up(self, conversation_id: str, after_seq: int | None = None) -> tuple[int, int]:
        """Send the stored messages after ``after_seq`` (default: the horizon) not sent yet,
        then the held-back live ones; return the last seq and how many came from storage.

        Held-back frames go out in seq order while they continue the sequence; a hole before
        one (its message is committed, since a later seq exists) is read from storage again.
        Catch-ups run one at a time, so a resume and a gap fill never send a message twice.
        """
        async with self._catch_up_lock:
            if after_seq is None:
                after_seq = self._horizon.get(conversation_id, 0)
            first, sent = self._first_sent.get(conversation_id, 0), self._last_sent.get(conversation_id, -1)
            own = self._own_seqs.setdefault(conversation_id, set())  # passed() may add while we read
            last, count = after_seq, 0
            try:
                while True:
                    read_from = last
                    waiting = {seq for seq, _ in self._resuming[conversation_id]}
                    while True:
                        page = await self.chat.history(
                            self.user, conversation_id, after_seq=last, limit=RESUME_PAGE
                        )
                        for message in page:
                            last = message.seq
                            if first <= message.seq <= sent or message.seq in own:
                                continue
                            await self._send.send(p.message_new_frame(message))
                            count += 1
                        if len(page) < RESUME_PAGE:
                            break
                    last = max(last, sent)
                    buffer = self._resuming[conversation_id]
                    buffer.sort(key=lambda item: item[0])
                    while buffer and buffer[0][0] <= last + 1:
                        seq, live = buffer.pop(0)
                        if seq > last:
                            if live is not None:
                                self._queue(live)
                            last = seq
                    if not buffer:
                        break
                    if last == read_from and buffer[0][0] in waiting:
                        # a frame held since before the read, and storage has nothing before it:
                        # the hole is a message this user may not read
                        last = buffer[0][0] - 1
            finally:
                self._resuming.pop(conversation_id)
                self._catch_ups[conversation_id] -= 1
                if self._catch_ups[conversation_id]:
                    self._resuming[conversation_id] = []  # another catch-up is waiting
                else:
                    del self._catch_ups[conversation_id]
            # everything from here to ``last`` has now been sent on this connection
            contiguous = 0 < first <= after_seq + 1 and sent >= after_seq
            self._first_sent[conversation_id] = first if contiguous else after_seq + 1
            self._last_sent[conversation_id] = self._horizon[conversation_id] = last
            own.difference_update([s for s in own if s <= last])
            if not own:
                self._own_seqs.pop(conversation_id, None)
            return last, count

    def _watch(self, conversation_id: str) -> None:
        self._subscribe(conversation_topic(conversation_id))

    def _subscribe(self, topic: str) -> None:
        if topic not in self.topics:
            self.topics.add(topic)
            self.app.bus.subscribe(topic, self)
