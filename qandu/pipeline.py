"""What happens after a message is stored: analysis, plugins, the bot's reply or handoff.

Runs off the sender's hot path.  Messages of one conversation are handled one after another,
in order; up to ``[dispatch] workers`` conversations at once (:mod:`qandu.ordered`: a slow
message holds up only its own conversation), with at most ``workers * queue_size`` messages
waiting, so a flood slows its producers instead of growing memory.  An edited message goes
through the same queue, after the message it replaces: it is analysed again (new
annotations, stored and sent to staff), and nothing else happens to it.

What the analysis of a message produces (annotations, context changes, automatic tags) is
stored in one job, one commit, before the later hooks run (:func:`Store.save_analysis`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs
import trio

from qandu.analysis import Analysis, analyse
from qandu.assist import push_suggestions
from qandu.domain import Content, Conversation, Message
from qandu.ordered import OrderedQueue
from qandu.storage.conversations import merged_context
from qandu.storage.tags import AUTO

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
    """Runs the post-store plugin pipeline, in order per conversation."""

    def __init__(self, chat: ChatService, pm: PluginManager, *, workers: int, queue_size: int) -> None:
        self.chat = chat
        self.pm = pm
        self._queue = OrderedQueue(self._run_job, workers=workers, capacity=workers * queue_size)
        self._handled = 0

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the workers until :meth:`close` was called and the queue is drained."""
        await self._queue.run(task_status=task_status)

    async def submit(self, message: Message, *, edited: bool = False) -> None:
        """Queue a stored message after the earlier ones of its conversation (waits while full).

        ``edited``: the message was edited; it is only analysed again (:meth:`reanalyse`).
        """
        await self._queue.submit(message.conversation_id, _Job(message, edited))

    async def close(self) -> None:
        """Stop taking messages; the workers finish what is queued and return."""
        self._queue.close()

    async def _run_job(self, job: _Job) -> None:
        try:
            await (self.reanalyse if job.edited else self.handle)(job.message)
        except Exception:
            log.exception("pipeline failed for message %s", job.message.id)
        self._handled += 1

    async def reanalyse(self, message: Message) -> None:
        """Analyse an edited message again: its new annotations replace the stored ones and go
        to staff (``message.annotated``).  The bot does not answer again; tags and routing stay."""
        conversation = await self.chat.store.get_conversation(message.conversation_id)
        if conversation is None:
            return
        analysis = await analyse(self.pm, message, conversation)
        if analysis.annotations or analysis.context:
            await self._store_analysis(message, conversation, analysis, [])

    async def handle(self, message: Message) -> None:
        """Analyse a stored message, notify plugins and let the bot answer or hand off.

        The annotations, the context the analysers changed and the automatic tags are stored
        in one job; the later hooks get the conversation as that job left it.
        """
        conversation = await self.chat.store.get_conversation(message.conversation_id)
        if conversation is None:
            return
        analysis = await analyse(self.pm, message, conversation)
        annotations = analysis.annotations
        tags = await self.chat.teamwork.auto_tags(
            message, self._with_context(conversation, analysis), annotations
        )
        if annotations or analysis.context or tags:
            conversation = await self._store_analysis(message, conversation, analysis, tags)
        conversation = await self.chat.routing.on_message(message, conversation, annotations)
        await self.pm.notify(
            "qandu_message_stored", message=message, conversation=conversation, annotations=annotations
        )
        if message.sender.type == "user" and self._bot_owns(conversation):
            await self._bot_turn(message, conversation, annotations)
        elif message.sender.type == "user" and conversation.assignee_id is not None:
            await push_suggestions(self.chat, conversation, message, annotations)

    @staticmethod
    def _with_context(conversation: Conversation, analysis: Analysis) -> Conversation:
        """The conversation as the tagging hooks should see it: with the analysers' context."""
        if not analysis.context:
            return conversation
        return attrs.evolve(conversation, context=merged_context(conversation.context, analysis.context))

    async def _store_analysis(
        self, message: Message, conversation: Conversation, analysis: Analysis, tags: list[str]
    ) -> Conversation:
        """Store the analysis (one job), then send the annotations to staff
        (``message.annotated``; the message itself was delivered before the analysis started)
        and announce new tags.  A failure is logged: the bot still answers."""
        try:
            conversation, added = await self.chat.store.save_analysis(
                message.id,
                conversation.id,
                annotations=analysis.annotations,
                context=analysis.context,
                tags=tags,
            )
        except Exception:
            log.exception("could not store the analysis of message %s", message.id)
            return conversation
        if analysis.annotations:
            self.chat.publish_annotations(message, analysis.annotations)
        await self.chat.teamwork.tagged(conversation, added, source=AUTO, by=None)
        return conversation

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
        return DispatchStatistics(queued=self._queue.waiting, handled=self._handled)
