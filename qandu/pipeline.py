"""What happens after a message is stored: analysis, plugins, the bot's reply or handoff.

Runs off the sender's hot path.  Messages of one conversation are handled in order by one
worker (conversations are sharded over ``[dispatch] workers`` tasks, each with a bounded
channel, so a flood slows its producers instead of growing memory).  An edited message goes
through the same worker, after the message it replaces: it is analysed again (new
annotations, stored and sent to staff), and nothing else happens to it.
"""

from __future__ import annotations

import logging
import zlib
from typing import TYPE_CHECKING, Any

import attrs
import trio

from qandu.assist import push_suggestions
from qandu.domain import Content, Conversation, Message

if TYPE_CHECKING:
    from qandu.chat import ChatService
    from qandu.plugins import PluginManager

log = logging.getLogger("qandu.pipeline")


@attrs.frozen
class Reply:
    """A bot's answer from ``qandu_reply``; ``handoff=True`` also passes the chat to a person."""

    text: str
    metadata: dict[str, Any] | None = None
    handoff: bool = False
    reason: str | None = None
    """Why the bot hands off (kept in the status history); an empty ``text`` posts nothing."""


@attrs.frozen
class Reject:
    """Returned by ``qandu_message_incoming`` to refuse a message; ``reason`` goes to the sender."""

    reason: str


@attrs.frozen
class DispatchStatistics:
    queued: int
    handled: int


@attrs.frozen
class _Job:
    message: Message
    edited: bool


class Dispatcher:
    """Per-conversation ordered workers running the post-store plugin pipeline."""

    def __init__(self, chat: ChatService, pm: PluginManager, *, workers: int, queue_size: int) -> None:
        self.chat = chat
        self.pm = pm
        self._channels = [trio.open_memory_channel[_Job](queue_size) for _ in range(workers)]
        self._handled = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the workers until every send channel is closed and their queues are drained."""
        async with trio.open_nursery() as nursery:
            for _, receive in self._channels:
                nursery.start_soon(self._worker, receive)
            task_status.started()

    async def submit(self, message: Message, *, edited: bool = False) -> None:
        """Queue a stored message for its conversation's worker (waits while it is full).

        ``edited``: the message was edited; it is only analysed again (:meth:`reanalyse`).
        """
        send, _ = self._channels[zlib.crc32(message.conversation_id.encode()) % len(self._channels)]
        await send.send(_Job(message, edited))

    async def close(self) -> None:
        """Stop taking messages; the workers finish what is queued and return."""
        for send, _ in self._channels:
            await send.aclose()

    async def _worker(self, receive: trio.MemoryReceiveChannel[_Job]) -> None:
        async with receive:
            async for job in receive:
                try:
                    await (self.reanalyse if job.edited else self.handle)(job.message)
                except Exception:
                    log.exception("pipeline failed for message %s", job.message.id)
                self._handled += 1

    async def _analyse(self, message: Message, conversation: Conversation) -> dict[str, Any]:
        annotations: dict[str, Any] = {}
        for _plugin, result in await self.pm.call_all(
            "qandu_analyze_message", message=message, conversation=conversation
        ):
            annotations.update(result)
        return annotations

    async def reanalyse(self, message: Message) -> None:
        """Analyse an edited message again: its new annotations replace the stored ones and go
        to staff (``message.annotated``).  The bot does not answer again; tags and routing stay."""
        conversation = await self.chat.store.get_conversation(message.conversation_id)
        if conversation is None:
            return
        annotations = await self._analyse(message, conversation)
        if annotations:
            await self._annotate(message, annotations)

    async def handle(self, message: Message) -> None:
        """Analyse a stored message, notify plugins and let the bot answer or hand off.

        The annotations are stored and sent to staff (``message.annotated``) while the rest
        runs: the bot's reply does not wait for that commit.  The job ends when both are done,
        so an edit of the message is analysed after its first annotations were stored.
        """
        conversation = await self.chat.store.get_conversation(message.conversation_id)
        if conversation is None:
            return
        annotations = await self._analyse(message, conversation)
        async with trio.open_nursery() as nursery:
            if annotations:
                nursery.start_soon(self._annotate, message, annotations)
                # analysers may have changed the conversation's context (slots): read it again
                conversation = await self.chat.store.get_conversation(conversation.id) or conversation
            await self._after_analysis(message, conversation, annotations)

    async def _after_analysis(
        self, message: Message, conversation: Conversation, annotations: dict[str, Any]
    ) -> None:
        conversation = await self.chat.teamwork.auto_tag(message, conversation, annotations)
        conversation = await self.chat.routing.on_message(message, conversation, annotations)
        await self.pm.notify(
            "qandu_message_stored", message=message, conversation=conversation, annotations=annotations
        )
        if message.sender.type == "user" and self._bot_owns(conversation):
            await self._bot_turn(message, conversation, annotations)
        elif message.sender.type == "user" and conversation.assignee_id is not None:
            await push_suggestions(self.chat, conversation, message, annotations)

    async def _annotate(self, message: Message, annotations: dict[str, Any]) -> None:
        """Store the annotations and send them to staff (``message.annotated``); the message
        itself was delivered before the analysis started."""
        try:
            await self.chat.annotate(message, annotations)
        except Exception:
            log.exception("could not store the annotations of message %s", message.id)

    def _bot_owns(self, conversation: Conversation) -> bool:
        return (
            conversation.bot is not None
            and conversation.status == "active"
            and conversation.assignee_id is None
        )

    async def _bot_turn(
        self, message: Message, conversation: Conversation, annotations: dict[str, Any]
    ) -> None:
        bot = self.chat.bots.get(conversation.bot or "")
        if bot is None:
            return
        reply = await self.pm.call_first(
            "qandu_reply", message=message, conversation=conversation, annotations=annotations, bot=bot
        )
        if reply is not None and reply.text:
            await self.chat.post_as_bot(bot, conversation, Content(text=reply.text, metadata=reply.metadata))
            await self.chat.teamwork.bot_replied(conversation, bot, reply)
        if reply is None or reply.handoff:
            reason = "no bot answer" if reply is None else reply.reason or "bot handoff"
            await self.chat.handoff(conversation, bot, reason=reason)

    def statistics(self) -> DispatchStatistics:
        queued = sum(send.statistics().current_buffer_used for send, _ in self._channels)
        return DispatchStatistics(queued=queued, handled=self._handled)
