"""Teams, inboxes and agents' routing profiles, with their access rules.

Staff may read them; only admins change them.  A change that can free capacity (a larger
limit, new skills, new members) is announced as ``agent.updated`` so that a routing
plugin drains the queue.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from qandu.domain import User
from qandu.errors import Forbidden, NotFound
from qandu.routing.types import Agent, Inbox, Team, is_queued

if TYPE_CHECKING:
    from qandu.routing.service import RoutingService


def require_admin(user: User) -> None:
    if user.role != "admin":
        raise Forbidden("only admins may change teams, inboxes and agents' routing settings")


class RoutingAdmin:
    """Administration of the routing configuration stored in the database."""

    def __init__(self, routing: RoutingService) -> None:
        self.routing = routing
        self.db = routing.db

    async def teams(self, user: User) -> list[Team]:
        self.routing.chat.require_staff(user)
        return await self.db.list_teams()

    async def team(self, user: User, team_id: str) -> Team:
        self.routing.chat.require_staff(user)
        return await self._team(team_id)

    async def _team(self, team_id: str) -> Team:
        team = await self.db.get_team(team_id)
        if team is None:
            raise NotFound(f"no team {team_id!r}", field="teamId")
        return team

    async def save_team(self, user: User, team_id: str | None, fields: dict[str, Any]) -> Team:
        """Create or change a team; ``fields`` in storage names (business_hours, member_ids...).

        Agents who joined or left it are announced (``agent.updated``: their ``teamIds``).
        """
        require_admin(user)
        before = () if team_id is None else (await self._team(team_id)).member_ids
        team = await self.db.save_team(team_id, **fields)
        await self._publish_agents(set(before) ^ set(team.member_ids))
        await self.routing.emit("team.updated", None, teamId=team.id, by=user.id)
        return team

    async def delete_team(self, user: User, team_id: str) -> None:
        """Delete a team: its open conversations and members go on without it, announced live."""
        require_admin(user)
        members = (await self._team(team_id)).member_ids
        for conversation_id in await self.db.delete_team(team_id):
            conversation = await self.routing.chat.store.get_conversation(conversation_id)
            if conversation is not None:
                self.routing.chat.publish_conversation(conversation)
                await self.routing.publish_queue(conversation, was_queued=is_queued(conversation))
        await self._publish_agents(members)
        await self.routing.emit("team.updated", None, teamId=team_id, by=user.id, deleted=True)

    async def _publish_agents(self, agent_ids: Iterable[str]) -> None:
        if agent_ids:
            agents = await self.db.list_agents(
                default_limit=self.routing.default_max_chats, agent_ids=sorted(agent_ids)
            )
            for agent in agents:
                self.routing.publish_agent(agent)

    async def inboxes(self, user: User) -> list[Inbox]:
        self.routing.chat.require_staff(user)
        return await self.db.list_inboxes()

    async def save_inbox(self, user: User, inbox_id: str | None, fields: dict[str, Any]) -> Inbox:
        require_admin(user)
        return await self.db.save_inbox(inbox_id, **fields)

    async def delete_inbox(self, user: User, inbox_id: str) -> None:
        require_admin(user)
        await self.db.delete_inbox(inbox_id)

    async def agents(self, user: User) -> list[Agent]:
        self.routing.chat.require_staff(user)
        return await self.db.list_agents(default_limit=self.routing.default_max_chats)

    async def update_agent(self, user: User, agent_id: str, changes: dict[str, Any]) -> Agent:
        """Change an agent's ``skills``, ``languages`` or ``max_chats`` (admins only)."""
        require_admin(user)
        await self.db.update_profile(agent_id, changes)
        agent = await self.routing.agent(agent_id)
        self.routing.publish_agent(agent)
        await self.routing.emit(
            "agent.updated",
            None,
            agentId=agent_id,
            maxChats=agent.max_chats,
            skills=list(agent.skills),
            languages=list(agent.languages),
            by=user.id,
        )
        return agent
