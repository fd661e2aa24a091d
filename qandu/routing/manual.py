"""Assignment decided by people (claim, join/leave, assign, transfer) and by presence (requeue).

A mixin of :class:`qandu.routing.service.RoutingService`: every operation is one transaction
in the store, then its frames and events go out through the service's ``_after``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from qandu.bus import user_topic
from qandu.domain import Content, Conversation, User
from qandu.errors import Conflict, InvalidRequest
from qandu.gateway.protocol import server_frame
from qandu.routing.types import is_queued
from qandu.storage.drafts import UNSET, MessageDraft

if TYPE_CHECKING:
    from qandu.routing.service import RoutingService

    _Base = RoutingService
else:
    _Base = object


class PeopleAssignment(_Base):
    """Claim, assign, transfer, hand back and requeue."""

    # -- assignment by people ----------------------------------------------------------------

    async def claim(self, user: User, conversation_id: str) -> Conversation:
        """An agent takes an unassigned conversation (``Conflict`` if someone has it or they are full)."""
        self.chat.require_staff(user)
        await self.chat.readable(user, conversation_id)
        change = await self.db.assign(
            conversation_id,
            user.id,
            by=user.id,
            reason=f"claimed by {user.name}",
            expect_unassigned=True,
            default_limit=self.default_max_chats,
        )
        if change.previous_agent == user.id:
            return change.conversation
        await self.chat.post_system(change.conversation, f"{user.name} joined the conversation")
        return await self._after(change, "conversation.assigned", by=user, reason="claimed", agentId=user.id)

    async def take_on_join(self, user: User, conversation: Conversation) -> Conversation:
        """``join`` of an unowned conversation makes the agent its assignee if they have room."""
        try:
            change = await self.db.assign(
                conversation.id,
                user.id,
                by=user.id,
                reason="agent joined",
                expect_unassigned=True,
                default_limit=self.default_max_chats,
            )
        except Conflict:
            return await self.chat.readable(user, conversation.id)
        return await self._after(
            change, "conversation.assigned", by=user, reason="agent joined", agentId=user.id
        )

    async def release_on_leave(self, user: User, conversation: Conversation) -> Conversation:
        """``leave`` by the assignee puts the conversation back in the queue."""
        change = await self.db.release(conversation.id, by=user.id, reason="agent left", requeue=True)
        return await self._after(
            change, "conversation.unassigned", by=user, reason="agent left", agentId=user.id
        )

    async def assign(
        self, user: User, conversation_id: str, *, agent_id: str | None = None, team_id: str | None = None
    ) -> Conversation:
        """Give a conversation to an agent, or to a team (it keeps its agent, or waits for the team)."""
        self.chat.require_staff(user)
        conversation = await self.chat.readable(user, conversation_id)
        if agent_id is None and team_id is None:
            raise InvalidRequest("give agentId or teamId", field="agentId")
        await self._team(team_id)
        if agent_id is None:
            conversation = await self.db.set_team(conversation_id, team_id)
            self.chat.publish_conversation(conversation)
            if conversation.assignee_id is None and conversation.status == "active":
                await self.chat._change_status(
                    conversation, "pending", by=user.id, reason=f"assigned to a team by {user.name}"
                )
            elif is_queued(conversation):
                await self.publish_queue(conversation, was_queued=True)
            await self.emit("conversation.transferred", conversation_id, by=user.id, teamId=team_id)
            return await self.chat.readable(user, conversation_id)
        change = await self.db.assign(
            conversation_id,
            agent_id,
            by=user.id,
            reason=f"assigned by {user.name}",
            default_limit=self.default_max_chats,
            team_id=team_id if team_id is not None else UNSET,
        )
        if change.previous_agent == agent_id:
            return change.conversation
        agent = await self.agent(agent_id)
        await self.chat.post_system(change.conversation, f"{agent.user.name} joined the conversation")
        return await self._after(
            change,
            "conversation.assigned",
            by=user,
            reason=f"assigned by {user.name}",
            agentId=agent_id,
            previousAgentId=change.previous_agent,
        )

    async def transfer(
        self,
        user: User,
        conversation_id: str,
        *,
        agent_id: str | None = None,
        team_id: str | None = None,
        to_bot: bool = False,
        note: str | None = None,
    ) -> Conversation:
        """Hand a conversation to another agent, a team's queue, or back to its bot, with a note."""
        self.chat.require_staff(user)
        conversation = await self.chat.readable(user, conversation_id)
        if sum((agent_id is not None, team_id is not None and agent_id is None, to_bot)) != 1:
            raise InvalidRequest("give exactly one of agentId, teamId or bot", field="agentId")
        if to_bot and conversation.bot is None:
            raise Conflict("this conversation has no bot to hand it back to", field="bot")
        if agent_id == user.id and conversation.assignee_id == user.id:
            raise Conflict("the conversation is already yours", field="agentId")
        previous = conversation.assignee_id
        team = await self._team(team_id)
        if to_bot:
            conversation = await self.chat.handback(user, conversation_id)
            if previous is not None:
                frame = server_frame(
                    "assignment",
                    action="unassigned",
                    conversation=conversation.to_wire(),
                    by=user.id,
                    reason="handed back to the bot",
                )
                self.chat.bus.publish(user_topic(previous), frame)
            await self.emit(
                "conversation.handed_back", conversation_id, by=user.id, fromAgentId=previous, note=note
            )
            return conversation
        if agent_id is not None:
            change = await self.db.assign(
                conversation_id,
                agent_id,
                by=user.id,
                reason=f"transferred by {user.name}",
                default_limit=self.default_max_chats,
                team_id=team_id if team_id is not None else UNSET,
            )
            target = (await self.agent(agent_id)).user.name
        else:
            change = await self.db.release(
                conversation_id,
                by=user.id,
                requeue=True,
                reason=f"transferred by {user.name}",
                team_id=team_id,
            )
            target = f"team {team.name}" if team is not None else "the queue"
        if note:
            draft = MessageDraft(
                conversation_id,
                user.as_sender(),
                Content(text=f"Transfer note: {note}"),
                uuid.uuid4().hex,
                private=True,
            )
            await self.chat._append(draft)
        await self.chat.post_system(
            change.conversation, f"{user.name} transferred the conversation to {target}"
        )
        return await self._after(
            change,
            "conversation.transferred",
            by=user,
            reason=f"transferred by {user.name}",
            fromAgentId=previous,
            toAgentId=agent_id,
            note=note,
        )

    async def return_to_bot(self, conversation_id: str, *, reason: str) -> Conversation:
        """Give a waiting (or assigned) conversation back to its bot, without a person deciding."""
        conversation = await self.chat.store.get_conversation(conversation_id)
        if conversation is None or conversation.bot is None:
            raise Conflict("this conversation has no bot to hand it back to", field="conversationId")
        change = await self.db.release(conversation_id, by=None, reason=reason, requeue=False)
        return await self._after(change, "conversation.handed_back", by=None, reason=reason)

    async def requeue_agent(self, agent_id: str, *, reason: str) -> list[Conversation]:
        """Put every open conversation of ``agent_id`` back in the queue (they went offline)."""
        requeued = []
        agent = await self.agent(agent_id)
        for conversation_id in await self.db.open_assigned(agent_id):
            try:
                change = await self.db.release(conversation_id, by=None, reason=reason, expect_agent=agent_id)
            except Conflict:
                continue  # resolved or reassigned meanwhile
            await self.chat.post_system(change.conversation, f"{agent.user.name} left the conversation")
            requeued.append(
                await self._after(change, "conversation.unassigned", by=None, reason=reason, agentId=agent_id)
            )
        return requeued
