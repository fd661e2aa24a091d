"""Events: what happened, for plugins that observe the server (analytics, routing, audit).

The core emits an :class:`Event` through the ``qandu_event`` hook; every implementation runs
under the hook deadline and inside an error boundary, so an observer can never break the
code that emitted it, nor hold it up for longer than its deadline.  Event names are dotted,
past tense where they report a change.  The core emits the names listed in
:data:`CORE_EVENTS`; plugins may emit their own (prefix them with the plugin's name).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import attrs

from qandu.domain import iso, utcnow

if TYPE_CHECKING:
    from qandu.plugins import PluginManager

#: Events emitted by the core, with what ``data`` carries.
CORE_EVENTS: dict[str, str] = {
    "conversation.queued": "entered the human queue: priority, teamId, reason",
    "conversation.assigned": "an agent took it: agentId, previousAgentId, by, reason, teamId",
    "conversation.unassigned": "its agent let go (left, went offline, handed back): agentId, by, reason",
    "conversation.transferred": "moved to another agent or team: fromAgentId, toAgentId, teamId, by, note",
    "conversation.handed_back": "an agent gave it back to the bot: agentId, by",
    "conversation.priority_changed": "priority changed: priority, previous, reason",
    "conversation.first_response": "an agent answered for the first time: agentId, waitedSeconds",
    "sla.breached": "an SLA deadline passed unanswered: kind (first_response|next_response), due, priority",
    "agent.status_changed": "availability changed: agentId, status, previous, reason",
    "agent.updated": "an agent's routing profile changed: agentId, maxChats, skills, languages",
    "team.updated": "a team was created, changed or deleted: teamId, by, deleted",
    "file.scanned": (
        "an upload was judged (conversationId set): uploadId, uploaderId, role, status (clean|quarantined),"
        " mimeType, declaredType, size, name, reason, scanners (scanner names that rejected or accepted it)"
    ),
    "conversation.started": (
        "a customer started it (at = startedAt): bot, source, priority, teamId, customerId"
    ),
    "conversation.status_changed": (
        "any status change (at = its history time): from, to, by, reason, agentId, teamId"
    ),
    "conversation.handed_off": "its bot passed it to people: bot, reason",
    "conversation.tagged": "tags were added or removed: added | removed, source (manual|auto), by",
    "bot.replied": "the bot answered a customer message: bot, handoff",
    "csat.submitted": (
        "the customer rated the help (at = answer time): surveyId, rating, comment, agentId, teamId"
    ),
    "note.mentioned": "an agent was @mentioned in a private note: agentId, by, messageId",
    "followup.fired": "a scheduled follow-up fired (once): followupId, kind, agentId, messageId",
}


@attrs.frozen
class Event:
    """Something that happened to a conversation or an agent.

    :ivar name: Dotted event name, such as ``conversation.assigned``.
    :ivar conversation_id: The conversation concerned, or ``None`` (agent events).
    :ivar at: When it happened (UTC).
    :ivar data: Event-specific details (JSON-able, camelCase keys).
    """

    name: str
    conversation_id: str | None = None
    at: dt.datetime = attrs.field(factory=utcnow)
    data: dict[str, Any] = attrs.field(factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "conversationId": self.conversation_id,
            "at": iso(self.at),
            "data": self.data,
        }


async def emit(
    pm: PluginManager,
    name: str,
    conversation_id: str | None = None,
    at: dt.datetime | None = None,
    /,
    **data: Any,
) -> None:
    """Send an :class:`Event` to every ``qandu_event`` implementation; ``data`` entries that are
    ``None`` are left out (absent, not null).  The parameters before ``data`` are positional, so
    any key (``name``, ``at``) can be a data field."""
    clean = {key: value for key, value in data.items() if value is not None}
    await pm.notify("qandu_event", event=Event(name, conversation_id, at or utcnow(), clean))
