"""JSON Schemas of the routing endpoints: queue, assignment, agents, teams, inboxes."""

from __future__ import annotations

from typing import Any

from qandu.domain import PRIORITIES
from qandu.http.schemas import _closed, ref
from qandu.routing.hours import DAYS
from qandu.routing.types import AVAILABILITIES
from qandu.schemas import ID_SCHEMA, object_schema

MAX_TAGS = 50
_NAME = {"type": "string", "minLength": 1, "maxLength": 100, "pattern": r"\S"}
_WORD = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^\S+$"}
_WORDS = {"type": "array", "items": _WORD, "maxItems": MAX_TAGS, "uniqueItems": True}
_SPAN = {"type": "string", "pattern": r"^\d\d:\d\d-\d\d:\d\d$", "description": "HH:MM-HH:MM, local time."}
_HOURS = {
    "type": ["object", "null"],
    "properties": {day: {"type": "array", "items": _SPAN, "maxItems": 8} for day in DAYS},
    "additionalProperties": False,
    "description": "Opening spans per day (mon..sun; a missing day is closed); null: always open.",
}
_TIMEZONE = {
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
    "description": "IANA time zone, e.g. Europe/Berlin.",
}


def _id(description: str) -> dict[str, Any]:
    return {**ID_SCHEMA, "description": description}


ASSIGN_BODY = object_schema(
    {"agentId": _id("Give it to this agent."), "teamId": _id("Give it to this team.")},
    [],
    minProperties=1,
)

TRANSFER_BODY = object_schema(
    {
        "agentId": _id("Hand it to this agent."),
        "teamId": _id("Hand it to this team's queue (with agentId: the agent, in this team)."),
        "bot": {"const": True, "description": "Hand it back to the conversation's bot."},
        "note": {
            "type": "string",
            "minLength": 1,
            "maxLength": 2000,
            "description": "A private note for staff.",
        },
    },
    [],
    minProperties=1,
)

PRIORITY_BODY = object_schema(
    {
        "priority": {"enum": list(PRIORITIES), "description": "The new priority."},
        "reason": {"type": "string", "minLength": 1, "maxLength": 500, "description": "Why."},
    },
    ["priority"],
)

AGENT_STATUS_BODY = object_schema(
    {"status": {"enum": list(AVAILABILITIES), "description": "online, away or offline."}}, ["status"]
)

AGENT_PROFILE_BODY = object_schema(
    {
        "skills": {**_WORDS, "description": "Skills the router matches (e.g. billing)."},
        "languages": {**_WORDS, "description": "Languages the agent answers in (e.g. en, de)."},
        "maxChats": {
            "type": ["integer", "null"],
            "minimum": 0,
            "maximum": 1000,
            "description": "Limit of open conversations; null: the server default.",
        },
    },
    [],
    minProperties=1,
)

_TEAM_FIELDS = {
    "name": {**_NAME, "description": "Unique team name."},
    "skills": {**_WORDS, "description": "Skills of the team."},
    "languages": {**_WORDS, "description": "Languages the team serves."},
    "businessHours": _HOURS,
    "timezone": _TIMEZONE,
    "memberIds": {
        "type": "array",
        "items": ID_SCHEMA,
        "maxItems": 1000,
        "uniqueItems": True,
        "description": "The team's agents (replaces the list).",
    },
}
TEAM_CREATE_BODY = object_schema(_TEAM_FIELDS, ["name"])
TEAM_UPDATE_BODY = object_schema(_TEAM_FIELDS, [], minProperties=1)

_INBOX_FIELDS = {
    "name": {**_NAME, "description": "Unique inbox name."},
    "source": {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 64,
        "description": "Conversations started with this source (initialize's source); null: any.",
    },
    "bot": {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 64,
        "description": "Served by this bot; null: any.",
    },
    "teamId": {
        "type": ["string", "null"],
        "minLength": 1,
        "maxLength": 64,
        "description": "The team they go to.",
    },
}
INBOX_CREATE_BODY = object_schema(_INBOX_FIELDS, ["name"])
INBOX_UPDATE_BODY = object_schema(_INBOX_FIELDS, [], minProperties=1)

QUEUE_QUERY = object_schema(
    {
        "teamId": _id("Only this team's conversations."),
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": 500,
            "default": 100,
            "description": "At most this many.",
        },
    },
    [],
)

_TIMESTAMP = {"type": ["string", "null"], "format": "date-time"}
_NULLABLE_STRING = {"type": ["string", "null"]}

COMPONENTS: dict[str, dict[str, Any]] = {
    "Agent": _closed(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "role": {"enum": ["support", "admin"]},
            "status": {"enum": list(AVAILABILITIES), "description": "Effective availability."},
            "statusAt": _TIMESTAMP,
            "skills": {"type": "array", "items": {"type": "string"}},
            "languages": {"type": "array", "items": {"type": "string"}},
            "maxChats": {
                "type": ["integer", "null"],
                "description": "The agent's own limit (null: default).",
            },
            "limit": {"type": ["integer", "null"], "description": "The limit in force (null: none)."},
            "load": {"type": "integer", "minimum": 0, "description": "Open conversations assigned."},
            "teamIds": {"type": "array", "items": {"type": "string"}},
        },
        [
            "id",
            "name",
            "role",
            "status",
            "statusAt",
            "skills",
            "languages",
            "maxChats",
            "limit",
            "load",
            "teamIds",
        ],
        "An agent's availability, load and routing profile.",
    ),
    "Team": _closed(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "skills": {"type": "array", "items": {"type": "string"}},
            "languages": {"type": "array", "items": {"type": "string"}},
            "businessHours": _HOURS,
            "timezone": {"type": "string"},
            "memberIds": {"type": "array", "items": {"type": "string"}},
        },
        ["id", "name", "skills", "languages", "businessHours", "timezone", "memberIds"],
        "A team of agents.",
    ),
    "Inbox": _closed(
        {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "source": _NULLABLE_STRING,
            "bot": _NULLABLE_STRING,
            "teamId": _NULLABLE_STRING,
        },
        ["id", "name", "source", "bot", "teamId"],
        "Where conversations come from, and the team they go to.",
    ),
}

QUEUE_RESPONSE = _closed(
    {
        "conversations": {"type": "array", "items": ref("Conversation"), "description": "Queue order."},
        "total": {"type": "integer", "minimum": 0, "description": "Waiting conversations in all."},
    },
    ["conversations", "total"],
)
AGENT_RESPONSE = _closed({"agent": ref("Agent")}, ["agent"])
AGENTS_RESPONSE = _closed({"agents": {"type": "array", "items": ref("Agent")}}, ["agents"])
TEAM_RESPONSE = _closed({"team": ref("Team")}, ["team"])
TEAMS_RESPONSE = _closed({"teams": {"type": "array", "items": ref("Team")}}, ["teams"])
INBOX_RESPONSE = _closed({"inbox": ref("Inbox")}, ["inbox"])
INBOXES_RESPONSE = _closed({"inboxes": {"type": "array", "items": ref("Inbox")}}, ["inboxes"])
DELETED_RESPONSE = _closed({"deleted": {"type": "string", "description": "The id."}}, ["deleted"])
