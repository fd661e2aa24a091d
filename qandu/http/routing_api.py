"""Routing operations of the REST API: queue, claim/assign/transfer, agents, teams, inboxes.

Registered on the core route table (:data:`qandu.http.api.api`) when this module is
imported; every operation is a thin adapter to ``app.routing`` (access checks live there).
"""

from __future__ import annotations

from typing import Any

from qandu.http import routing_schemas as rs
from qandu.http import schemas as s
from qandu.http.api import api
from qandu.http.routing import Call, Result

_ROUTING = "routing"
_TEAMS = "teams"

# The routing components join the document's shared components.
s.COMPONENTS.update(rs.COMPONENTS)


def _conversation(conversation: Any) -> dict[str, Any]:
    return {"conversation": conversation.to_wire()}


# --------------------------------------------------------------------------- assignment


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/claim",
    tag=_ROUTING,
    responses={200: ("The conversation, now assigned to the caller.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404, 409),
)
async def claim_conversation(call: Call) -> Result:
    """Take an unassigned conversation (staff).

    409 if another agent has it, it is closed, or the caller is at their limit of chats.
    """
    return _conversation(await call.app.routing.claim(call.me, call.params["conversationId"]))


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/assign",
    tag=_ROUTING,
    body=rs.ASSIGN_BODY,
    responses={200: ("The conversation after the assignment.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404, 409),
)
async def assign_conversation(call: Call) -> Result:
    """Assign a conversation to an agent and/or a team (staff).

    With ``agentId`` the agent gets it (409 if they are at their limit); with only
    ``teamId`` it belongs to that team: it keeps its agent, or waits in the queue for one
    of the team's agents.
    """
    body = call.body
    conversation = await call.app.routing.assign(
        call.me, call.params["conversationId"], agent_id=body.get("agentId"), team_id=body.get("teamId")
    )
    return _conversation(conversation)


@api.operation(
    "POST",
    "/api/conversations/{conversationId}/transfer",
    tag=_ROUTING,
    body=rs.TRANSFER_BODY,
    responses={200: ("The conversation after the transfer.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404, 409),
)
async def transfer_conversation(call: Call) -> Result:
    """Hand a conversation to another agent, a team's queue or back to its bot (staff).

    Exactly one target: ``agentId`` (optionally with ``teamId``), ``teamId`` or ``bot: true``.
    ``note`` is stored as a private note for staff.
    """
    body = call.body
    conversation = await call.app.routing.transfer(
        call.me,
        call.params["conversationId"],
        agent_id=body.get("agentId"),
        team_id=body.get("teamId"),
        to_bot=body.get("bot", False),
        note=body.get("note"),
    )
    return _conversation(conversation)


@api.operation(
    "PUT",
    "/api/conversations/{conversationId}/priority",
    tag=_ROUTING,
    body=rs.PRIORITY_BODY,
    responses={200: ("The conversation with its new priority.", s.CONVERSATION_RESPONSE)},
    errors=(403, 404),
)
async def set_conversation_priority(call: Call) -> Result:
    """Set a conversation's priority by hand (staff), with a reason."""
    call.app.chat.require_staff(call.me)
    await call.app.chat.readable(call.me, call.params["conversationId"])
    reason = call.body.get("reason") or f"set by {call.me.name}"
    conversation = await call.app.routing.set_priority(
        call.params["conversationId"], call.body["priority"], reason, by=call.me
    )
    return _conversation(conversation)


@api.operation(
    "GET",
    "/api/queue",
    tag=_ROUTING,
    query=rs.QUEUE_QUERY,
    responses={200: ("Waiting conversations: high priority first, then longest waiting.", rs.QUEUE_RESPONSE)},
    errors=(403,),
)
async def get_queue(call: Call) -> Result:
    """The queue of conversations waiting for a person (staff)."""
    call.app.chat.require_staff(call.me)
    waiting = await call.app.routing.db.queue(team_id=call.query.get("teamId"), limit=call.query["limit"])
    total = await call.app.routing.db.queue_count()
    return {"conversations": [c.to_wire() for c in waiting], "total": total}


# --------------------------------------------------------------------------- agents


@api.operation(
    "GET",
    "/api/agents",
    tag=_ROUTING,
    responses={200: ("Every agent and admin with availability and load.", rs.AGENTS_RESPONSE)},
    errors=(403,),
)
async def list_agents(call: Call) -> Result:
    """List agents: availability, open conversations, limit, skills, languages, teams (staff)."""
    agents = await call.app.routing.admin.agents(call.me)
    return {"agents": [agent.to_wire() for agent in agents]}


@api.operation(
    "PUT",
    "/api/agents/me/status",
    tag=_ROUTING,
    body=rs.AGENT_STATUS_BODY,
    responses={200: ("The caller's agent record.", rs.AGENT_RESPONSE)},
    errors=(403,),
)
async def set_my_status(call: Call) -> Result:
    """Set your availability: online (take chats), away (keep yours, get no new ones), offline.

    Without an open console, ``online`` lasts one presence lease: repeat the call to stay.
    """
    agent = await call.app.routing.set_status(call.me, call.body["status"])
    return {"agent": agent.to_wire()}


@api.operation(
    "PATCH",
    "/api/agents/{agentId}",
    tag=_ROUTING,
    body=rs.AGENT_PROFILE_BODY,
    responses={200: ("The agent after the change.", rs.AGENT_RESPONSE)},
    errors=(403, 404),
)
async def update_agent(call: Call) -> Result:
    """Change an agent's skills, languages or limit of concurrent chats (admins)."""
    names = {"skills": "skills", "languages": "languages", "maxChats": "max_chats"}
    changes = {names[key]: value for key, value in call.body.items()}
    agent = await call.app.routing.admin.update_agent(call.me, call.params["agentId"], changes)
    return {"agent": agent.to_wire()}


# --------------------------------------------------------------------------- teams and inboxes


def _team_fields(body: dict[str, Any]) -> dict[str, Any]:
    names = {
        "name": "name",
        "skills": "skills",
        "languages": "languages",
        "timezone": "timezone",
        "memberIds": "member_ids",
        "businessHours": "business_hours",
    }
    fields = {names[key]: value for key, value in body.items()}
    if "business_hours" in fields and fields["business_hours"] is None:
        fields["clear_hours"] = True
    return fields


@api.operation(
    "GET", "/api/teams", tag=_TEAMS, responses={200: ("Every team.", rs.TEAMS_RESPONSE)}, errors=(403,)
)
async def list_teams(call: Call) -> Result:
    """List teams with their members, skills, languages and business hours (staff)."""
    return {"teams": [team.to_wire() for team in await call.app.routing.admin.teams(call.me)]}


@api.operation(
    "POST",
    "/api/teams",
    tag=_TEAMS,
    body=rs.TEAM_CREATE_BODY,
    responses={201: ("The new team.", rs.TEAM_RESPONSE)},
    errors=(403, 404, 409),
)
async def create_team(call: Call) -> Result:
    """Create a team (admins)."""
    team = await call.app.routing.admin.save_team(call.me, None, _team_fields(call.body))
    return 201, {"team": team.to_wire()}


@api.operation(
    "GET",
    "/api/teams/{teamId}",
    tag=_TEAMS,
    responses={200: ("The team.", rs.TEAM_RESPONSE)},
    errors=(403, 404),
)
async def get_team(call: Call) -> Result:
    """Read one team (staff)."""
    return {"team": (await call.app.routing.admin.team(call.me, call.params["teamId"])).to_wire()}


@api.operation(
    "PATCH",
    "/api/teams/{teamId}",
    tag=_TEAMS,
    body=rs.TEAM_UPDATE_BODY,
    responses={200: ("The team after the change.", rs.TEAM_RESPONSE)},
    errors=(403, 404, 409),
)
async def update_team(call: Call) -> Result:
    """Change a team (admins); ``memberIds`` replaces the members, ``businessHours: null``: always open."""
    team = await call.app.routing.admin.save_team(call.me, call.params["teamId"], _team_fields(call.body))
    return {"team": team.to_wire()}


@api.operation(
    "DELETE",
    "/api/teams/{teamId}",
    tag=_TEAMS,
    responses={200: ("The team was deleted.", rs.DELETED_RESPONSE)},
    errors=(403, 404),
)
async def delete_team(call: Call) -> Result:
    """Delete a team (admins); its conversations stay where they are, without a team."""
    await call.app.routing.admin.delete_team(call.me, call.params["teamId"])
    return {"deleted": call.params["teamId"]}


def _inbox_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {("team_id" if key == "teamId" else key): value for key, value in body.items()}


@api.operation(
    "GET", "/api/inboxes", tag=_TEAMS, responses={200: ("Every inbox.", rs.INBOXES_RESPONSE)}, errors=(403,)
)
async def list_inboxes(call: Call) -> Result:
    """List inboxes: which conversations go to which team (staff)."""
    return {"inboxes": [inbox.to_wire() for inbox in await call.app.routing.admin.inboxes(call.me)]}


@api.operation(
    "POST",
    "/api/inboxes",
    tag=_TEAMS,
    body=rs.INBOX_CREATE_BODY,
    responses={201: ("The new inbox.", rs.INBOX_RESPONSE)},
    errors=(403, 404, 409),
)
async def create_inbox(call: Call) -> Result:
    """Create an inbox (admins): new conversations from its source and/or bot go to its team."""
    inbox = await call.app.routing.admin.save_inbox(call.me, None, _inbox_fields(call.body))
    return 201, {"inbox": inbox.to_wire()}


@api.operation(
    "PATCH",
    "/api/inboxes/{inboxId}",
    tag=_TEAMS,
    body=rs.INBOX_UPDATE_BODY,
    responses={200: ("The inbox after the change.", rs.INBOX_RESPONSE)},
    errors=(403, 404, 409),
)
async def update_inbox(call: Call) -> Result:
    """Change an inbox (admins)."""
    inbox = await call.app.routing.admin.save_inbox(call.me, call.params["inboxId"], _inbox_fields(call.body))
    return {"inbox": inbox.to_wire()}


@api.operation(
    "DELETE",
    "/api/inboxes/{inboxId}",
    tag=_TEAMS,
    responses={200: ("The inbox was deleted.", rs.DELETED_RESPONSE)},
    errors=(403, 404),
)
async def delete_inbox(call: Call) -> Result:
    """Delete an inbox (admins)."""
    await call.app.routing.admin.delete_inbox(call.me, call.params["inboxId"])
    return {"deleted": call.params["inboxId"]}
