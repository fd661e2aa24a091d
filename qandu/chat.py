"""Chat operations shared by every transport: access checks, storage, fan-out, plugins.

The gateway and the HTTP API both call :class:`ChatService`, so a message sent over REST
and one sent over the WebSocket take the same path: validate -> ``qandu_message_incoming``
-> durable store -> fan-out -> post-store pipeline.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from qandu.bus import STAFF_TOPIC, Bus, conversation_topic, user_topic
from qandu.cluster import Cluster
from qandu.domain import Attachment, Content, Conversation, Message, Sender, StatusChange, User
from qandu.errors import Conflict, Forbidden, InvalidRequest, NotFound
from qandu.files.service import claimed_uploads
from qandu.gateway import protocol as p
from qandu.gateway.protocol import server_frame
from qandu.metrics import Metrics
from qandu.pipeline import Reject
from qandu.routing.service import RoutingService
from qandu.storage import MessageDraft
from qandu.teamwork import Teamwork

if TYPE_CHECKING:
    from qandu.bots import Bot
    from qandu.files.service import FileService
    from qandu.pipeline import Dispatcher
    from qandu.plugins import PluginManager
    from qandu.storage import Store


class Rejected(InvalidRequest):
    """A plugin refused the message in ``qandu_message_incoming``."""

    code = "rejected"


class ChatService:
    """Every chat operation, with the caller's identity checked against the conversation."""

    def __init__(self, store: Store, bus: Bus, pm: PluginManager, bots: dict[str, Bot]) -> None:
        self.store = store
        self.bus = bus
        self.pm = pm
        self.bots = bots
        self.dispatcher: Dispatcher | None = None
        self._online: Counter[str] = Counter()
        self.cluster = Cluster(store)
        self.routing = RoutingService(self)
        self.files: FileService | None = None  # set by App.create
        self.teamwork = Teamwork(self)
        self.metrics = Metrics()

    # -- access ----------------------------------------------------------------------------

    async def readable(self, user: User, conversation_id: str) -> Conversation:
        """Return the conversation if ``user`` may read it (staff: any; customers: their own)."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise NotFound(f"conversation {conversation_id} not found", field="conversationId")
        if not user.is_staff and not any(member.id == user.id for member in conversation.participants):
            raise Forbidden("you are not a participant of this conversation", field="conversationId")
        return conversation

    @staticmethod
    def require_staff(user: User) -> None:
        if not user.is_staff:
            raise Forbidden("only agents and admins may do this")

    # -- conversations ---------------------------------------------------------------------

    async def start_conversation(
        self,
        customer: User,
        *,
        bot_name: str | None,
        source: str = "api",
        context: dict[str, Any] | None = None,
        custom_fields: dict[str, Any] | None = None,
        locale: str | None = None,
    ) -> tuple[Conversation, Message | None]:
        """Open a conversation for ``customer``, served by ``bot_name``; the bot greets."""
        bot = None
        if bot_name is not None:
            bot = self.bots.get(bot_name)
            if bot is None:
                raise NotFound(
                    f"no bot named {bot_name!r} (bots: {', '.join(self.bots) or 'none'})", field="bot"
                )
        bot_user = None
        if bot is not None:
            bot_user = await self.store.ensure_bot_user(
                bot.name, display_name=bot.display_name, avatar=bot.avatar
            )
        if locale:
            context = {**(context or {}), "locale": locale}
        conversation = await self.store.create_conversation(
            customer=customer, bot_user=bot_user, source=source, context=context, custom_fields=custom_fields
        )
        greeting = None
        if bot is not None and bot.text("greeting", locale):
            greeting = await self.post_as_bot(bot, conversation, Content(text=bot.text("greeting", locale)))
            conversation = await self.store.get_conversation(conversation.id) or conversation
        conversation = await self.routing.started(conversation)
        self.publish_conversation(conversation)
        await self.teamwork.started(conversation, bot)
        await self.pm.notify("qandu_conversation_started", conversation=conversation, bot=bot)
        return conversation, greeting

    async def list_conversations(self, user: User, **filters: Any) -> list[Conversation]:
        if not user.is_staff:
            filters["participant_id"] = user.id
        return await self.store.list_conversations(**filters)

    async def set_status(
        self, user: User, conversation_id: str, status: str, *, reason: str | None = None
    ) -> Conversation:
        """Change a conversation's status; customers may only resolve their own."""
        conversation = await self.readable(user, conversation_id)
        if not user.is_staff and status != "resolved":
            raise Forbidden("customers may only resolve their conversation", field="status")
        return await self._change_status(conversation, status, by=user.id, reason=reason)

    async def _change_status(
        self, conversation: Conversation, status: str, *, by: str | None, reason: str | None
    ) -> Conversation:
        conversation, change = await self.store.set_status(conversation.id, status, by=by, reason=reason)
        await self._status_changed(conversation, change)
        return conversation

    async def _status_changed(self, conversation: Conversation, change: StatusChange) -> None:
        self.publish_conversation(conversation)
        await self.pm.notify("qandu_conversation_status_changed", conversation=conversation, change=change)
        await self.routing.status_changed(conversation, change)
        await self.teamwork.status_changed(conversation, change)  # events; the CSAT survey on resolve

    async def join(self, user: User, conversation_id: str) -> Conversation:
        """An agent joins: becomes a participant and, if nobody owns it, the assignee."""
        self.require_staff(user)
        conversation = await self.readable(user, conversation_id)
        if conversation.status == "archived":
            raise Conflict("conversation is archived", field="conversationId")
        joined = not conversation.is_participant(user.id)
        if joined:
            conversation = await self.store.add_participant(conversation_id, user)
        if conversation.assignee_id is None and user.role == "support":
            conversation = await self.routing.take_on_join(user, conversation)  # atomic; respects limits
        if joined:
            await self.post_system(conversation, f"{user.name} joined the conversation")
        self.publish_conversation(conversation)
        return conversation

    async def leave(self, user: User, conversation_id: str) -> Conversation:
        """An agent leaves; if they owned it, it goes back to the queue."""
        self.require_staff(user)
        conversation = await self.readable(user, conversation_id)
        if not conversation.is_participant(user.id):
            raise Conflict("you are not in this conversation", field="conversationId")
        conversation = await self.store.remove_participant(conversation_id, user.id)
        if conversation.assignee_id == user.id and conversation.status in ("active", "pending"):
            conversation = await self.routing.release_on_leave(user, conversation)  # back to the queue
        elif conversation.assignee_id == user.id:
            conversation = await self.store.update_conversation(conversation_id, assignee_id=None)
        await self.post_system(conversation, f"{user.name} left the conversation")
        self.publish_conversation(conversation)
        return conversation

    async def handoff(self, conversation: Conversation, bot: Bot, *, reason: str) -> None:
        """The bot passes the conversation to the human queue (once), telling the customer."""
        if conversation.status != "active" or conversation.assignee_id is not None:
            return
        locale = (conversation.context or {}).get("locale")
        if bot.text("handoff", locale):
            await self.post_as_bot(bot, conversation, Content(text=bot.text("handoff", locale)))
        await self._change_status(conversation, "pending", by=bot.user_id, reason=reason)

    async def handback(self, user: User, conversation_id: str) -> Conversation:
        """Staff give the conversation back to its bot: no assignee, status ``active``.

        Only the assigned agent or an admin may hand back an assigned conversation; a
        waiting (unassigned) one may be handed back by any agent.
        """
        self.require_staff(user)
        conversation = await self.readable(user, conversation_id)
        bot = self.bots.get(conversation.bot or "")
        if bot is None:
            raise Conflict("this conversation has no bot to hand it back to", field="conversationId")
        if conversation.status not in ("active", "pending"):
            raise Conflict(f"conversation is {conversation.status}", field="conversationId")
        owner = conversation.assignee_id
        if owner is None and conversation.status == "active":
            raise Conflict("the bot already handles this conversation", field="conversationId")
        if owner is not None and owner != user.id and user.role != "admin":
            raise Forbidden("only the assigned agent or an admin may hand this conversation back")
        if owner is not None:
            conversation = await self.store.update_conversation(conversation_id, assignee_id=None)
        if conversation.status == "pending":
            conversation, change = await self.store.set_status(
                conversation_id, "active", by=user.id, reason="handed back to the bot"
            )
            await self._status_changed(conversation, change)
        notice = f"{user.name} handed the conversation back to {bot.display_name}"
        await self.post_system(conversation, notice)
        self.publish_conversation(conversation)
        return conversation

    def publish_conversation(self, conversation: Conversation) -> None:
        frame = p.conversation_updated_frame(conversation)
        self.bus.publish(conversation_topic(conversation.id), frame)
        self.bus.publish(STAFF_TOPIC, frame)

    # -- messages --------------------------------------------------------------------------

    async def send_message(
        self,
        user: User,
        *,
        conversation_id: str,
        client_msg_id: str,
        content: Content,
        reply_to: str | None = None,
        attachments: tuple[Attachment, ...] = (),
        attachment_ids: Sequence[str] = (),
        private: bool = False,
        origin: object = None,
    ) -> tuple[Message, bool]:
        """Store and deliver a message; return it and whether it is new (False: a resend).

        ``origin`` is the sending connection, which gets an ack instead of ``message.new``.
        ``attachment_ids`` are the sender's clean uploads to this conversation (``qandu.files``).
        """
        began = time.perf_counter()
        conversation = await self.readable(user, conversation_id)
        if private and not user.is_staff:
            raise Forbidden("only agents may write private notes", field="private")
        if conversation.status == "archived":
            raise Conflict("conversation is archived; start a new one", field="conversationId")
        if reply_to is not None:
            target = await self.store.get_message(reply_to)
            if target is None or target.conversation_id != conversation_id:
                raise NotFound(f"message {reply_to} not found in this conversation", field="replyTo")
        if attachment_ids:
            if self.files is None:
                raise InvalidRequest("attachments: file sharing is not available", field="attachments")
            files, content = await self.files.prepare(
                user, conversation_id, list(attachment_ids), client_msg_id, content
            )
            attachments = (*attachments, *files)
        if user.is_staff and not conversation.is_participant(user.id):
            conversation = await self.join(user, conversation_id)
        draft = MessageDraft(
            conversation_id=conversation_id,
            sender=user.as_sender(),
            content=content,
            client_msg_id=client_msg_id,
            reply_to=reply_to,
            attachments=attachments,
            private=private,
        )
        verdict = await self.pm.call_chain(
            "qandu_message_incoming", "draft", draft=draft, conversation=conversation, user=user
        )
        if isinstance(verdict, Reject):
            raise Rejected(verdict.reason, field="content")
        final = verdict if isinstance(verdict, MessageDraft) else draft
        sent_ids = [a.id for a in final.attachments if a.id in attachment_ids]
        async with claimed_uploads(self.files, sent_ids, client_msg_id):
            message, created = await self._append(final, origin)
        if created:
            await self._after_delivery(message, conversation)
        self.metrics.message_latency.observe(time.perf_counter() - began)
        return message, created

    async def _append(self, draft: MessageDraft, origin: object = None) -> tuple[Message, bool]:
        """Store ``draft``; a new message is published at commit time, so in seq order."""

        def publish(result: tuple[Message, bool]) -> None:
            message, created = result
            if created:
                self.metrics.message_stored(message.sender.type)
                frame = p.message_new_frame(message)
                topic = conversation_topic(message.conversation_id)
                self.bus.publish(topic, frame, staff_only=message.private, seq=message.seq, exclude=origin)

        return await self.store.append_message(draft, on_commit=publish)

    async def _after_delivery(self, message: Message, conversation: Conversation) -> None:
        if message.sender.type == "user" and conversation.status == "resolved":
            await self._change_status(
                conversation, "active", by=message.sender.id, reason="customer wrote again"
            )
        if self.dispatcher is not None and not message.private:
            await self.dispatcher.submit(message)
        if message.private:
            await self.teamwork.notify_mentions(message)

    async def post_as_bot(self, bot: Bot, conversation: Conversation, content: Content) -> Message:
        """Store and deliver a message from ``bot`` (greetings, replies, handoff notices)."""
        sender = Sender(id=bot.user_id, type="ai", name=bot.display_name, avatar=bot.avatar)
        return await self._post(MessageDraft(conversation.id, sender, content, uuid.uuid4().hex))

    async def post_system(self, conversation: Conversation, text: str) -> Message:
        """Store and deliver a system notice (agent joined, left...)."""
        sender = Sender(id="system", type="system", name="QanDu")
        return await self._post(MessageDraft(conversation.id, sender, Content(text=text), uuid.uuid4().hex))

    async def _post(self, draft: MessageDraft) -> Message:
        message, _ = await self._append(draft)
        return message

    async def edit_message(self, user: User, message_id: str, text: str) -> Message:
        await self._message_for(user, message_id)
        message = await self.store.edit_message(message_id, text=text, editor_id=user.id)
        frame = p.message_updated_frame(message)
        self.bus.publish(conversation_topic(message.conversation_id), frame, staff_only=message.private)
        if self.dispatcher is not None and not message.private:
            await self.dispatcher.submit(message, edited=True)  # analysed again: new annotations
        if message.private:
            await self.teamwork.notify_mentions(message)  # agents the edit newly mentions
        return message

    async def delete_message(self, user: User, message_id: str) -> Message:
        await self._message_for(user, message_id)
        message = await self.store.delete_message(message_id, by_id=user.id, allow_any=user.role == "admin")
        frame = p.message_deleted_frame(message.conversation_id, message.id, message.seq)
        self.bus.publish(conversation_topic(message.conversation_id), frame, staff_only=message.private)
        return message

    async def _message_for(self, user: User, message_id: str) -> Message:
        message = await self.store.get_message(message_id)
        if message is None or (message.private and not user.is_staff):
            raise NotFound(f"message {message_id} not found", field="messageId")
        await self.readable(user, message.conversation_id)
        return message

    async def react(self, user: User, message_id: str, emoji: str, *, add: bool) -> Message:
        """Add or remove ``user``'s ``emoji`` on a message; fan out only real changes."""
        await self._message_for(user, message_id)
        if add:
            message, reaction, changed = await self.store.add_reaction(
                message_id, user_id=user.id, emoji=emoji
            )
            wire = reaction.to_wire()
        else:
            message, changed = await self.store.remove_reaction(message_id, user_id=user.id, emoji=emoji)
            wire = {"emoji": emoji, "userId": user.id}
        if changed:
            frame = server_frame(
                "reaction",
                conversationId=message.conversation_id,
                messageId=message.id,
                action="added" if add else "removed",
                reaction=wire,
            )
            self.bus.publish(conversation_topic(message.conversation_id), frame, staff_only=message.private)
        return message

    async def record_receipt(self, user: User, conversation_id: str, status: str, seq: int) -> None:
        """Store ``user``'s delivered/read mark and tell the conversation if it moved."""
        await self.readable(user, conversation_id)
        receipt, changed = await self.store.record_receipt(
            conversation_id, user_id=user.id, status=status, seq=seq
        )
        if changed:
            mark = receipt.read_seq if status == "read" else receipt.delivered_seq
            frame = p.receipt_frame(conversation_id, user.id, status, mark)
            self.bus.publish(conversation_topic(conversation_id), frame)

    async def receipt_for_message(self, user: User, message_id: str, status: str) -> Message:
        message = await self._message_for(user, message_id)
        await self.record_receipt(user, message.conversation_id, status, message.seq)
        return message

    async def history(
        self,
        user: User,
        conversation_id: str,
        *,
        before_seq: int | None = None,
        after_seq: int | None = None,
        limit: int = 50,
    ) -> list[Message]:
        await self.readable(user, conversation_id)
        return await self.store.history(
            conversation_id,
            before_seq=before_seq,
            after_seq=after_seq,
            limit=limit,
            include_private=user.is_staff,
            with_annotations=user.is_staff,
        )

    def publish_annotations(self, message: Message, annotations: dict[str, Any]) -> None:
        """Send a message's stored annotations to the staff watching its conversation."""
        frame = p.message_annotated_frame(message.conversation_id, message.id, message.seq, annotations)
        self.bus.publish(conversation_topic(message.conversation_id), frame, staff_only=True)

    # -- presence (ephemeral, never stored) ------------------------------------------------

    def connected(self, user: User, conversation_ids: list[str]) -> None:
        self._online[user.id] += 1
        if self._online[user.id] == 1:
            self._publish_presence(user, conversation_ids, "online")
            if user.is_staff:
                self.routing.presence.connected(user)

    async def disconnected(self, user: User, conversation_ids: list[str]) -> None:
        """A connection closed: ``offline`` once the user's last one in the cluster is gone."""
        self._online[user.id] -= 1
        if self._online[user.id] <= 0:
            del self._online[user.id]
            if user.is_staff:
                self.routing.presence.disconnected(user)
            if await self.bus.followed_elsewhere(user_topic(user.id)) or self._online[user.id]:
                return
            current = await self.list_conversations(user, limit=100)  # joined since connecting, too
            joined = {c.id for c in current if c.is_participant(user.id)}
            self._publish_presence(user, sorted(joined.union(conversation_ids)), "offline")

    def is_online(self, user_id: str) -> bool:
        return self._online.get(user_id, 0) > 0

    def _publish_presence(self, user: User, conversation_ids: list[str], status: str) -> None:
        frame = p.presence_frame(user.id, status)
        for conversation_id in conversation_ids:
            self.bus.publish(conversation_topic(conversation_id), frame)
        if user.is_staff:
            self.bus.publish(STAFF_TOPIC, frame)
