"""``Teamwork``: tags, mentions, canned responses, notifications, threads and lifecycle events.

The chat service calls in at a few points (a conversation started, its status changed,
the bot handed it off, a private note was posted) and the pipeline asks plugins for tags.
What happened goes out as frames and as events (``qandu_event``); the CSAT survey,
follow-ups and auto-archiving live in their own modules and hang off this object.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import trio

from qandu.bus import STAFF_TOPIC, conversation_topic, user_topic
from qandu.config import LifecycleConfig
from qandu.domain import Conversation, Message, StatusChange, User
from qandu.errors import Forbidden, NotFound
from qandu.events import emit
from qandu.gateway.protocol import server_frame
from qandu.storage import notes, review, tags
from qandu.teamwork.archive import Archiver
from qandu.teamwork.csat import Csat
from qandu.teamwork.followups import Followups
from qandu.teamwork.types import CannedResponse, Notification, normalize_tag

if TYPE_CHECKING:
    from qandu.bots import Bot
    from qandu.chat import ChatService
    from qandu.pipeline import Reply

log = logging.getLogger("qandu.teamwork")

_EMAIL_MENTION = re.compile(r"@([\w.+-]+@[\w-]+(?:\.[\w-]+)+)")


class Teamwork:
    """Teamwork and lifecycle operations (``app.chat.teamwork``)."""

    def __init__(self, chat: ChatService) -> None:
        self.chat = chat
        self.store = chat.store
        self.config = LifecycleConfig()
        """Replaced by ``[lifecycle]`` when the app is created."""
        self.csat = Csat(self)
        self.followups = Followups(self)
        self.archiver = Archiver(self)

    # -- events ------------------------------------------------------------------------------

    async def emit(
        self, name: str, conversation_id: str | None, at: dt.datetime | None = None, **data: Any
    ) -> None:
        """Send an event to every ``qandu_event`` implementation (:func:`qandu.events.emit`)."""
        await emit(self.chat.pm, name, conversation_id, at, **data)

    async def started(self, conversation: Conversation, bot: Bot | None) -> None:
        customer = next((p.id for p in conversation.participants if p.role == "customer"), None)
        await self.emit(
            "conversation.started",
            conversation.id,
            conversation.started_at,
            bot=bot.name if bot is not None else None,
            source=conversation.source,
            priority=conversation.priority,
            teamId=conversation.team_id,
            customerId=customer,
        )

    async def status_changed(self, conversation: Conversation, change: StatusChange) -> None:
        """Announce a status change (the bot's move to ``pending`` is its handoff); a resolution
        sends the satisfaction survey."""
        await self.emit(
            "conversation.status_changed",
            conversation.id,
            change.at,
            **{"from": change.from_status, "to": change.to_status},
            by=change.by,
            reason=change.reason,
            agentId=conversation.assignee_id,
            teamId=conversation.team_id,
        )
        if change.to_status == "pending" and conversation.bot and change.by == f"bot:{conversation.bot}":
            await self.emit(
                "conversation.handed_off",
                conversation.id,
                change.at,
                bot=conversation.bot,
                reason=change.reason,
            )
        if change.to_status == "resolved":
            await self.csat.send_survey(conversation)

    async def bot_replied(self, conversation: Conversation, bot: Bot, reply: Reply) -> None:
        await self.emit("bot.replied", conversation.id, bot=bot.name, handoff=reply.handoff)

    # -- tags --------------------------------------------------------------------------------

    async def auto_tags(
        self, message: Message, conversation: Conversation, annotations: dict[str, Any]
    ) -> list[str]:
        """Ask ``qandu_tag_conversation`` for tags; return the valid ones the conversation lacks.

        The pipeline stores them with the message's annotations (``Store.save_analysis``) and
        then calls :meth:`tagged`.
        """
        if not self.chat.pm.hook.qandu_tag_conversation.get_hookimpls():
            return []
        wanted: list[str] = []
        for plugin, result in await self.chat.pm.call_all(
            "qandu_tag_conversation", conversation=conversation, message=message, annotations=annotations
        ):
            for raw in result if isinstance(result, list | tuple) else ():
                try:
                    wanted.append(normalize_tag(str(raw)))
                except Exception:
                    log.warning("plugin %s returned an invalid tag %r; ignored", plugin, raw)
        return [tag for tag in dict.fromkeys(wanted) if tag not in conversation.tags]

    async def add_tags(self, user: User, conversation_id: str, raw: Sequence[str]) -> Conversation:
        """An agent tags a conversation (manual tags revive ones removed earlier)."""
        self.chat.require_staff(user)
        await self.chat.readable(user, conversation_id)
        wanted = [normalize_tag(tag, f"tags.{index}") for index, tag in enumerate(raw)]
        return await self._add(conversation_id, wanted, source=tags.MANUAL, by=user.id)

    async def _add(
        self, conversation_id: str, wanted: list[str], *, source: str, by: str | None
    ) -> Conversation:
        conversation, added = await self.store.run_write(
            tags.add_tags, conversation_id, wanted, source=source, by=by
        )
        await self.tagged(conversation, added, source=source, by=by)
        return conversation

    async def tagged(
        self, conversation: Conversation, added: list[str], *, source: str, by: str | None
    ) -> None:
        """Publish and announce the tags just added to ``conversation`` (if any)."""
        if added:
            self.chat.publish_conversation(conversation)
            await self.emit("conversation.tagged", conversation.id, added=added, source=source, by=by)

    async def remove_tag(self, user: User, conversation_id: str, raw: str) -> Conversation:
        self.chat.require_staff(user)
        await self.chat.readable(user, conversation_id)
        tag = normalize_tag(raw, "tag")
        conversation = await self.store.run_write(tags.remove_tag, conversation_id, tag, by=user.id)
        self.chat.publish_conversation(conversation)
        await self.emit("conversation.tagged", conversation_id, removed=[tag], source=tags.MANUAL, by=user.id)
        return conversation

    async def tag_counts(self, user: User, prefix: str = "", limit: int = 50) -> list[tuple[str, int]]:
        self.chat.require_staff(user)
        return await self.store.run_read(tags.tag_counts, prefix.strip().lower(), limit)

    # -- private notes and mentions ----------------------------------------------------------

    async def notify_mentions(self, message: Message) -> None:
        """Notify every agent @mentioned in a private note (``mention`` frame + notification).

        Called when a note is posted and each time it is edited: an agent is notified once
        per note, so an edit reaches only the agents it mentions for the first time.
        """
        if not message.private or message.sender.type != "agent" or "@" not in (message.content.text or ""):
            return
        staff = [u for role in ("support", "admin") for u in await self.store.list_users(role)]
        for agent in mentioned(message.content.text or "", staff):
            if agent.id == message.sender.id:
                continue
            notification, created = await self.store.run_write(
                notes.add_notification,
                user_id=agent.id,
                kind="mention",
                dedupe_key=f"mention:{message.id}:{agent.id}",
                conversation_id=message.conversation_id,
                message_id=message.id,
                actor_id=message.sender.id,
                data={"by": message.sender.name, "excerpt": (message.content.text or "")[:280]},
            )
            if created:
                self.push_notification(notification)
                await self.emit(
                    "note.mentioned",
                    message.conversation_id,
                    agentId=agent.id,
                    by=message.sender.id,
                    messageId=message.id,
                )

    def push_notification(self, notification: Notification) -> None:
        """Send a stored notification to every open console of its agent."""
        frame = server_frame(notification.kind, notification=notification.to_wire())
        self.chat.bus.publish(user_topic(notification.user_id), frame)

    async def notifications(
        self, user: User, *, unread_only: bool, limit: int
    ) -> tuple[list[Notification], int]:
        self.chat.require_staff(user)
        return await self.store.run_read(
            notes.list_notifications, user.id, unread_only=unread_only, limit=limit
        )

    async def mark_read(self, user: User, ids: Sequence[str] | None) -> int:
        self.chat.require_staff(user)
        return await self.store.run_write(notes.mark_read, user.id, ids)

    # -- canned responses --------------------------------------------------------------------

    async def canned(
        self, user: User, *, query: str, language: str | None, limit: int
    ) -> list[CannedResponse]:
        self.chat.require_staff(user)
        return await self.store.run_read(notes.list_canned, query=query, language=language, limit=limit)

    async def save_canned(self, user: User, canned_id: str | None, fields: dict[str, Any]) -> CannedResponse:
        """Create (``canned_id`` None) or change a canned response (admins only)."""
        _require_admin(user)
        if canned_id is None:
            canned = await self.store.run_write(
                notes.create_canned,
                shortcut=fields["shortcut"],
                text=fields["text"],
                language=fields.get("language"),
                by=user.id,
            )
        else:
            canned = await self.store.run_write(notes.update_canned, canned_id, fields)
        self.chat.bus.publish(STAFF_TOPIC, server_frame("canned.updated", cannedResponse=canned.to_wire()))
        return canned

    async def delete_canned(self, user: User, canned_id: str) -> None:
        _require_admin(user)
        await self.store.run_write(notes.delete_canned, canned_id)
        self.chat.bus.publish(STAFF_TOPIC, server_frame("canned.deleted", id=canned_id))

    # -- threads -----------------------------------------------------------------------------

    async def thread(self, user: User, message_id: str) -> tuple[Message, list[Message]]:
        """The thread around a message: its root and every reply (customers: no private notes)."""
        message = await self.store.get_message(message_id)
        if message is None:
            raise NotFound(f"message {message_id} not found", field="messageId")
        await self.chat.readable(user, message.conversation_id)
        return await self.store.run_read(review.thread, message_id, include_private=user.is_staff)

    # -- the lifecycle service ---------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the follow-up scheduler and the auto-archiver until cancelled."""
        async with trio.open_nursery() as nursery:
            await nursery.start(self.followups.run)
            await nursery.start(self.archiver.run)
            task_status.started()

    def publish(self, conversation_id: str, frame: bytes, *, staff_only: bool = False) -> None:
        self.chat.bus.publish(conversation_topic(conversation_id), frame, staff_only=staff_only)


def _require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("only admins may manage canned responses")


def mentioned(text: str, staff: Sequence[User]) -> list[User]:
    """The agents ``text`` mentions as ``@email``, ``@Full Name`` or ``@name`` (e-mail local part).

    Names match case-insensitively and must end at a word boundary; the longest name wins
    (``@Ann Lee`` is Ann Lee, not Ann), and a name wins over an equal e-mail local part.
    """
    lowered = text.lower()
    found: dict[str, User] = {}
    emails = {match.lower() for match in _EMAIL_MENTION.findall(text)}
    handles: list[tuple[str, int, User]] = []  # (handle, 0 for a name / 1 for an e-mail's local part, user)
    for user in staff:
        if user.email and user.email.lower() in emails:
            found[user.id] = user
        handles.append((user.name.lower(), 0, user))
        if user.email:
            handles.append((user.email.split("@", 1)[0].lower(), 1, user))
    taken: list[tuple[int, int]] = []
    for handle, _kind, user in sorted(handles, key=lambda item: (-len(item[0]), item[1])):
        if not handle:
            continue
        for match in re.finditer(re.escape("@" + handle) + r"(?![\w@.-]*\w)", lowered):
            span = (match.start(), match.end())
            if any(start <= span[0] < end for start, end in taken):
                continue
            taken.append(span)
            found.setdefault(user.id, user)
    return list(found.values())
