"""Teams, inboxes and agents' routing profiles and presence (run in a database thread).

An agent's row in ``agents`` is created on first use (first connection, status change or
profile edit).  Presence is a lease: ``present_until`` is pushed forward while a console is
connected and set to *now + grace* when the last one closes; an agent whose lease ran out
counts as offline, whatever ``status`` says, until a sweep writes it down.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import attrs
import peewee

from qandu.domain import User, utcnow
from qandu.errors import Conflict, InvalidRequest, NotFound
from qandu.routing.hours import BusinessHours, check_timezone
from qandu.routing.types import AVAILABILITIES, Agent, Inbox, Team
from qandu.storage.convert import user_from_row
from qandu.storage.fields import JSONField, UtcDateTimeField
from qandu.storage.models import Db
from qandu.storage.users import get_user

STAFF_ROLES = ("support", "admin")
OPEN_STATUSES = ("active", "pending")


@attrs.frozen
class RoutingDb:
    """The core :class:`Db` plus the routing tables' models."""

    db: Db
    Team: Any
    TeamMember: Any
    Agent: Any
    Inbox: Any

    @property
    def m(self) -> Any:
        return self.db.m

    @property
    def is_postgresql(self) -> bool:
        return self.db.is_postgresql


def bind_routing(db: Db) -> RoutingDb:
    """Build the routing models on ``db``'s database."""
    text = not db.is_postgresql

    class Base(peewee.Model):
        class Meta:
            database = db.database
            legacy_table_names = False

    class TeamModel(Base):
        id = peewee.TextField(primary_key=True)
        name = peewee.TextField(unique=True)
        skills = JSONField(as_text=text)
        languages = JSONField(as_text=text)
        business_hours = JSONField(as_text=text, null=True)
        timezone = peewee.TextField()
        created_at = UtcDateTimeField(as_text=text)
        updated_at = UtcDateTimeField(as_text=text)

        class Meta:
            table_name = "teams"

    class TeamMemberModel(Base):
        id = peewee.AutoField()
        team_id = peewee.TextField()
        user_id = peewee.TextField()

        class Meta:
            table_name = "team_members"

    class AgentModel(Base):
        user_id = peewee.TextField(primary_key=True)
        status = peewee.TextField()
        status_at = UtcDateTimeField(as_text=text)
        present_until = UtcDateTimeField(as_text=text, null=True)
        skills = JSONField(as_text=text)
        languages = JSONField(as_text=text)
        max_chats = peewee.IntegerField(null=True)
        last_assigned_at = UtcDateTimeField(as_text=text, null=True)

        class Meta:
            table_name = "agents"

    class InboxModel(Base):
        id = peewee.TextField(primary_key=True)
        name = peewee.TextField(unique=True)
        source = peewee.TextField(null=True)
        bot = peewee.TextField(null=True)
        team_id = peewee.TextField(null=True)
        created_at = UtcDateTimeField(as_text=text)

        class Meta:
            table_name = "inboxes"

    return RoutingDb(db, TeamModel, TeamMemberModel, AgentModel, InboxModel)


# -- teams -------------------------------------------------------------------------------------


def _team_from_row(row: dict[str, Any], members: Sequence[str]) -> Team:
    hours = row["business_hours"]
    return Team(
        id=row["id"],
        name=row["name"],
        skills=tuple(row["skills"]),
        languages=tuple(row["languages"]),
        hours=None if hours is None else BusinessHours.from_wire(hours, row["timezone"]),
        timezone=row["timezone"],
        member_ids=tuple(members),
    )


def _members(r: RoutingDb, team_ids: Sequence[str]) -> dict[str, list[str]]:
    tm = r.TeamMember
    grouped: dict[str, list[str]] = defaultdict(list)
    for team_id, user_id in (
        tm.select(tm.team_id, tm.user_id).where(tm.team_id.in_(list(team_ids))).order_by(tm.id).tuples()
    ):
        grouped[team_id].append(user_id)
    return grouped


def list_teams(r: RoutingDb) -> list[Team]:
    rows = list(r.Team.select().order_by(r.Team.name).dicts())
    members = _members(r, [row["id"] for row in rows]) if rows else {}
    return [_team_from_row(row, members.get(row["id"], ())) for row in rows]


def get_team(r: RoutingDb, team_id: str) -> Team | None:
    row = r.Team.select().where(r.Team.id == team_id).dicts().first()
    return None if row is None else _team_from_row(row, _members(r, [team_id]).get(team_id, ()))


def require_team(r: RoutingDb, team_id: str, field: str = "teamId") -> Team:
    team = get_team(r, team_id)
    if team is None:
        raise NotFound(f"no team {team_id!r}", field=field)
    return team


def _require_staff(r: RoutingDb, user_ids: Iterable[str], field: str) -> None:
    u = r.m.User
    wanted = list(dict.fromkeys(user_ids))
    found = (
        {row[0] for row in u.select(u.id).where(u.id.in_(wanted) & u.role.in_(STAFF_ROLES)).tuples()}
        if wanted
        else set()
    )
    for index, user_id in enumerate(wanted):
        if user_id not in found:
            raise NotFound(
                f"no agent {user_id!r}", field=f"{field}.{index}" if field == "memberIds" else field
            )


def save_team(
    r: RoutingDb,
    team_id: str | None,
    *,
    name: str | None = None,
    skills: Sequence[str] | None = None,
    languages: Sequence[str] | None = None,
    business_hours: dict[str, Any] | None = None,
    clear_hours: bool = False,
    timezone: str | None = None,
    member_ids: Sequence[str] | None = None,
) -> Team:
    """Create (``team_id`` None) or update a team; only the given fields change."""
    now = utcnow()
    existing = None if team_id is None else require_team(r, team_id)
    zone = timezone or (existing.timezone if existing else "UTC")
    check_timezone(zone)
    hours = business_hours
    if hours is None and existing is not None and existing.hours is not None and not clear_hours:
        hours = existing.hours.to_wire()
    if hours is not None:
        hours = BusinessHours.from_wire(hours, zone).to_wire()
    if member_ids is not None:
        _require_staff(r, member_ids, "memberIds")
    t = r.Team
    values: dict[str, Any] = {"updated_at": now, "timezone": zone, "business_hours": hours}
    if name is not None:
        clash = t.select().where((t.name == name) & (t.id != (team_id or ""))).exists()
        if clash:
            raise Conflict(f"a team named {name!r} already exists", field="name")
        values["name"] = name
    if skills is not None:
        values["skills"] = list(dict.fromkeys(skills))
    if languages is not None:
        values["languages"] = list(dict.fromkeys(languages))
    if existing is None:
        if name is None:
            raise InvalidRequest("a new team needs a name", field="name")
        team_id = uuid.uuid4().hex
        values.setdefault("skills", [])
        values.setdefault("languages", [])
        t.insert(id=team_id, created_at=now, **values).execute()
    else:
        t.update(**values).where(t.id == team_id).execute()
    assert team_id is not None
    if member_ids is not None:
        tm = r.TeamMember
        tm.delete().where(tm.team_id == team_id).execute()
        rows = [{"team_id": team_id, "user_id": user_id} for user_id in dict.fromkeys(member_ids)]
        if rows:
            tm.insert_many(rows).execute()
    return require_team(r, team_id)


def delete_team(r: RoutingDb, team_id: str) -> list[str]:
    """Delete a team: its conversations keep waiting, without a team; inboxes lose it.

    Returns the ids of the open (active or pending) conversations that lost their team.
    """
    require_team(r, team_id)
    r.TeamMember.delete().where(r.TeamMember.team_id == team_id).execute()
    r.Inbox.update(team_id=None).where(r.Inbox.team_id == team_id).execute()
    c = r.m.Conversation
    cleared = [
        row[0] for row in c.select(c.id).where((c.team_id == team_id) & c.status.in_(OPEN_STATUSES)).tuples()
    ]
    c.update(team_id=None).where(c.team_id == team_id).execute()
    r.Team.delete().where(r.Team.id == team_id).execute()
    return cleared


# -- inboxes -----------------------------------------------------------------------------------


def _inbox(row: dict[str, Any]) -> Inbox:
    return Inbox(id=row["id"], name=row["name"], source=row["source"], bot=row["bot"], team_id=row["team_id"])


def list_inboxes(r: RoutingDb) -> list[Inbox]:
    return [_inbox(row) for row in r.Inbox.select().order_by(r.Inbox.name).dicts()]


def save_inbox(r: RoutingDb, inbox_id: str | None, **fields: Any) -> Inbox:
    """Create (``inbox_id`` None) or update an inbox; ``fields``: name, source, bot, team_id."""
    i = r.Inbox
    if fields.get("team_id") is not None:
        require_team(r, fields["team_id"])
    name = fields.get("name")
    if name is not None and i.select().where((i.name == name) & (i.id != (inbox_id or ""))).exists():
        raise Conflict(f"an inbox named {name!r} already exists", field="name")
    if inbox_id is None:
        if name is None:
            raise InvalidRequest("a new inbox needs a name", field="name")
        inbox_id = uuid.uuid4().hex
        i.insert(
            id=inbox_id, created_at=utcnow(), **{"source": None, "bot": None, "team_id": None, **fields}
        ).execute()
    elif (
        not i.update(**fields).where(i.id == inbox_id).execute()
        and not i.select().where(i.id == inbox_id).exists()
    ):
        raise NotFound(f"no inbox {inbox_id!r}", field="inboxId")
    row = i.select().where(i.id == inbox_id).dicts().first()
    if row is None:
        raise NotFound(f"no inbox {inbox_id!r}", field="inboxId")
    return _inbox(row)


def delete_inbox(r: RoutingDb, inbox_id: str) -> None:
    if not r.Inbox.delete().where(r.Inbox.id == inbox_id).execute():
        raise NotFound(f"no inbox {inbox_id!r}", field="inboxId")


def match_inbox(r: RoutingDb, source: str, bot: str | None) -> Inbox | None:
    """The inbox for a new conversation: source and bot match, then source, then bot, then a catch-all."""
    best: tuple[int, Inbox] | None = None
    for inbox in list_inboxes(r):
        if inbox.source not in (None, source) or inbox.bot not in (None, bot):
            continue
        score = (inbox.source is not None) * 2 + (inbox.bot is not None)
        if best is None or score > best[0]:
            best = (score, inbox)
    return None if best is None else best[1]


# -- agents ------------------------------------------------------------------------------------


def effective_status(status: str, present_until: dt.datetime | None, now: dt.datetime) -> str:
    """An agent is only as available as their presence lease: expired means offline."""
    if status == "offline" or present_until is None or present_until < now:
        return "offline"
    return status


def loads(r: RoutingDb, agent_ids: Sequence[str] | None = None) -> dict[str, int]:
    """Open (active or pending) conversations per assigned agent."""
    c = r.m.Conversation
    query = (
        c.select(c.assignee_id, peewee.fn.COUNT(c.id))
        .where(c.status.in_(OPEN_STATUSES) & c.assignee_id.is_null(False))
        .group_by(c.assignee_id)
    )
    if agent_ids is not None:
        query = query.where(c.assignee_id.in_(list(agent_ids)))
    return dict(query.tuples())


def list_agents(
    r: RoutingDb, *, now: dt.datetime, default_limit: int | None, agent_ids: Sequence[str] | None = None
) -> list[Agent]:
    """Every agent and admin with availability, load, limit and teams (``agent_ids``: only those)."""
    u, a, tm = r.m.User, r.Agent, r.TeamMember
    query = (
        u.select(
            u.id,
            u.kind,
            u.role,
            u.name,
            u.email,
            u.external_id,
            u.avatar,
            a.status,
            a.status_at,
            a.present_until,
            a.skills,
            a.languages,
            a.max_chats,
            a.last_assigned_at,
        )
        .join(a, peewee.JOIN.LEFT_OUTER, on=(a.user_id == u.id))
        .where(u.role.in_(STAFF_ROLES))
        .order_by(u.created_at, u.id)
    )
    if agent_ids is not None:
        query = query.where(u.id.in_(list(agent_ids)))
    rows = list(query.dicts())
    ids = [row["id"] for row in rows]
    load = loads(r, ids) if ids else {}
    teams: dict[str, list[str]] = defaultdict(list)
    if ids:
        for team_id, user_id in tm.select(tm.team_id, tm.user_id).where(tm.user_id.in_(ids)).tuples():
            teams[user_id].append(team_id)
    agents = []
    for row in rows:
        max_chats = row["max_chats"]
        agents.append(
            Agent(
                user=user_from_row(row),
                status=effective_status(row["status"] or "offline", row["present_until"], now),  # type: ignore[arg-type]
                status_at=row["status_at"],
                present_until=row["present_until"],
                skills=tuple(row["skills"] or ()),
                languages=tuple(row["languages"] or ()),
                max_chats=max_chats,
                limit=max_chats if max_chats is not None else default_limit,
                load=load.get(row["id"], 0),
                team_ids=tuple(sorted(teams.get(row["id"], ()))),
                last_assigned_at=row["last_assigned_at"],
            )
        )
    return agents


def get_agent(r: RoutingDb, agent_id: str, *, now: dt.datetime, default_limit: int | None) -> Agent:
    found = list_agents(r, now=now, default_limit=default_limit, agent_ids=[agent_id])
    if not found:
        raise NotFound(f"no agent {agent_id!r}", field="agentId")
    return found[0]


def _ensure_agent_row(r: RoutingDb, agent_id: str, now: dt.datetime) -> dict[str, Any]:
    """The agent's row, created offline if missing (locked on PostgreSQL)."""
    user = get_user(r.db, agent_id)
    if user is None or user.role not in STAFF_ROLES:
        raise NotFound(f"no agent {agent_id!r}", field="agentId")
    a = r.Agent
    query = a.select().where(a.user_id == agent_id)
    if r.is_postgresql:
        query = query.for_update()
    row = query.dicts().first()
    if row is None:
        row = {
            "user_id": agent_id,
            "status": "offline",
            "status_at": now,
            "present_until": None,
            "skills": [],
            "languages": [],
            "max_chats": None,
            "last_assigned_at": None,
        }
        a.insert(**row).on_conflict_ignore().execute()
        row = query.dicts().first() or row
    return row


def update_profile(r: RoutingDb, agent_id: str, changes: dict[str, Any]) -> None:
    """Change an agent's ``skills``, ``languages`` or ``max_chats`` (``None``: server default)."""
    _ensure_agent_row(r, agent_id, utcnow())
    if changes:
        r.Agent.update(**changes).where(r.Agent.user_id == agent_id).execute()


def set_status(
    r: RoutingDb, agent_id: str, status: str, *, now: dt.datetime, present_until: dt.datetime | None
) -> tuple[str, str]:
    """Record an agent's chosen availability (and presence lease); return (previous, new) effective status."""
    if status not in AVAILABILITIES:
        raise InvalidRequest(f"unknown status {status!r} (use {', '.join(AVAILABILITIES)})", field="status")
    row = _ensure_agent_row(r, agent_id, now)
    previous = effective_status(row["status"], row["present_until"], now)
    # a chosen ``offline`` drops the lease: only a lapsed lease marks an agent a node may revive
    lease = present_until if present_until is not None or status == "offline" else row["present_until"]
    changes: dict[str, Any] = {"status": status, "present_until": lease}
    if status != row["status"]:
        changes["status_at"] = now
    r.Agent.update(**changes).where(r.Agent.user_id == agent_id).execute()
    return previous, effective_status(status, lease, now)


def came_online(r: RoutingDb, agent_id: str, *, now: dt.datetime, until: dt.datetime) -> tuple[str, str]:
    """A console connected: an offline agent becomes online (away stays away); extend the lease."""
    row = _ensure_agent_row(r, agent_id, now)
    status = "online" if row["status"] == "offline" else row["status"]
    return set_status(r, agent_id, status, now=now, present_until=until)


def extend_presence(r: RoutingDb, agent_ids: Sequence[str], until: dt.datetime) -> None:
    """Push the lease of agents with an open console here (one statement for all of them)."""
    if agent_ids:
        a = r.Agent
        a.update(present_until=until).where(
            a.user_id.in_(list(agent_ids)) & (a.status != "offline")
        ).execute()


def lapsed(r: RoutingDb, agent_ids: Sequence[str]) -> list[str]:
    """Of ``agent_ids``, those written offline because their lease ran out (a node stalled past
    it); an agent who chose ``offline`` has no lease (``present_until`` is NULL)."""
    if not agent_ids:
        return []
    a = r.Agent
    query = a.select(a.user_id).where(
        a.user_id.in_(list(agent_ids)) & (a.status == "offline") & a.present_until.is_null(False)
    )
    return [agent_id for (agent_id,) in query.tuples()]


def expire_presence(r: RoutingDb, now: dt.datetime) -> list[tuple[str, str]]:
    """Write down ``offline`` for agents whose lease ran out; return ``(agent_id, previous)`` for each."""
    a = r.Agent
    query = a.select(a.user_id, a.status).where(
        (a.status != "offline") & (a.present_until.is_null() | (a.present_until < now))
    )
    if r.is_postgresql:
        query = query.for_update(skip_locked=True)
    expired = list(query.tuples())
    if expired:
        a.update(status="offline", status_at=now).where(
            a.user_id.in_([agent for agent, _ in expired])
        ).execute()
    return expired


def team_users(r: RoutingDb, team_id: str) -> list[User]:
    members = require_team(r, team_id).member_ids
    return [user for user_id in members if (user := get_user(r.db, user_id)) is not None]
