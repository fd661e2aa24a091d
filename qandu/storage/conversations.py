"""Conversation operations: create, load, list (keyset paging), participants, status, updates."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import peewee

from qandu.domain import PRIORITIES, Conversation, Participant, StatusChange, User, iso, utcnow
from qandu.errors import InvalidRequest, NotFound
from qandu.lifecycle import check_transition
from qandu.storage.convert import conversation_from_row, participant_from_row, status_change_from_row
from qandu.storage.drafts import UNSET
from qandu.storage.fields import to_utc
from qandu.storage.models import Db
from qandu.storage.users import BOT_ID_PREFIX

#: ``list_conversations`` returns at most this many per page.
MAX_PAGE = 500
CURSOR_SEPARATOR = "|"


def conversation_cursor(conversation: Conversation) -> str:
    """Return the opaque ``before`` cursor that continues a listing after ``conversation``."""
    return f"{iso(conversation.last_message_at)}{CURSOR_SEPARATOR}{conversation.id}"


def parse_cursor(before: str | tuple[dt.datetime | str, str]) -> tuple[dt.datetime, str]:
    """Accept a cursor string or a ``(last_message_at, id)`` pair; ``InvalidRequest`` if malformed."""
    try:
        if isinstance(before, str):
            stamp, conversation_id = before.rsplit(CURSOR_SEPARATOR, 1)
        else:
            stamp, conversation_id = before
        if isinstance(stamp, str):
            stamp = dt.datetime.fromisoformat(stamp)
        return to_utc(stamp), conversation_id
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(f"invalid cursor {before!r}", field="before") from exc


def check_priority(priority: str) -> None:
    if priority not in PRIORITIES:
        raise InvalidRequest(f"unknown priority {priority!r}", field="priority")


def _participants_of(db: Db, conversation_ids: Sequence[str]) -> dict[str, list[Participant]]:
    # hand-written: this runs for every conversation read (peewee's builder cost ~0.5 ms)
    table = db.participants
    statement = (
        f'SELECT {table.columns("p")}, u."name" FROM "participants" p JOIN "users" u ON u."id" = p."user_id" '
        f'WHERE p."conversation_id" IN {table.in_list(len(conversation_ids))} ORDER BY p."joined_at", p."id"'
    )
    grouped: dict[str, list[Participant]] = defaultdict(list)
    for values in db.sql(statement, tuple(conversation_ids)).fetchall():
        row = table.decode(values[:-1])
        row["name"] = values[-1]
        grouped[row["conversation"]].append(participant_from_row(row))
    return grouped


def _with_participants(db: Db, rows: Sequence[dict[str, Any]]) -> list[Conversation]:
    participants = _participants_of(db, [row["id"] for row in rows]) if rows else {}
    return [conversation_from_row(row, participants.get(row["id"], ())) for row in rows]


def get_conversation(db: Db, conversation_id: str) -> Conversation | None:
    values = db.sql(db.conversations.where('"id" = ?'), (conversation_id,)).fetchone()
    return None if values is None else _with_participants(db, [db.conversations.decode(values)])[0]


def require_conversation(db: Db, conversation_id: str) -> Conversation:
    conversation = get_conversation(db, conversation_id)
    if conversation is None:
        raise NotFound(f"no conversation {conversation_id!r}", field="conversation_id")
    return conversation


def _require_users(db: Db, users: Sequence[User]) -> None:
    found = {
        row[0]
        for row in db.m.User.select(db.m.User.id).where(db.m.User.id.in_([u.id for u in users])).tuples()
    }
    missing = [user.id for user in users if user.id not in found]
    if missing:
        raise NotFound(f"unknown user {missing[0]!r}", field="user_id")


def create_conversation(
    db: Db,
    *,
    customer: User,
    bot_user: User | None,
    source: str = "api",
    context: dict[str, Any] | None = None,
    custom_fields: dict[str, Any] | None = None,
    priority: str = "medium",
) -> Conversation:
    """Start an active conversation with the customer (and the bot, as an ``ai`` participant)."""
    check_priority(priority)
    members = [customer] if bot_user is None else [customer, bot_user]
    _require_users(db, members)
    now = utcnow()
    conversation_id = uuid.uuid4().hex
    bot = None if bot_user is None else bot_user.id.removeprefix(BOT_ID_PREFIX)
    db.m.Conversation.insert(
        id=conversation_id,
        status="active",
        priority=priority,
        source=source,
        context=context,
        custom_fields=custom_fields,
        tags=[],
        bot=bot,
        last_seq=0,
        started_at=now,
        last_message_at=now,
        updated_at=now,
    ).execute()
    rows = [_participant_row(conversation_id, user, now) for user in members]
    if bot_user is not None:
        rows[1].update(type="ai", role="ai")
    db.m.Participant.insert_many(rows).execute()
    return require_conversation(db, conversation_id)


def _participant_row(conversation_id: str, user: User, now: dt.datetime) -> dict[str, Any]:
    return {
        "conversation": conversation_id,
        "user": user.id,
        "type": user.kind,
        "role": user.role,
        "joined_at": now,
        "left_at": None,
    }


def list_conversations(
    db: Db,
    *,
    participant_id: str | None = None,
    status: str | Sequence[str] | None = None,
    assignee_id: str | None = None,
    unassigned: bool = False,
    limit: int = 50,
    before: str | tuple[dt.datetime | str, str] | None = None,
    tag: str | None = None,
) -> list[Conversation]:
    """Newest ``last_message_at`` first; continue with ``before=conversation_cursor(last)``."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", field="limit")
    c, p = db.m.Conversation, db.m.Participant
    query = c.select().order_by(c.last_message_at.desc(), c.id.desc()).limit(limit)
    if participant_id is not None:
        member = p.select(p.conversation).where((p.user == participant_id) & p.left_at.is_null())
        query = query.where(c.id.in_(member))
    if status is not None:
        query = query.where(c.status.in_([status] if isinstance(status, str) else list(status)))
    if assignee_id is not None:
        query = query.where(c.assignee_id == assignee_id)
    if unassigned:
        query = query.where(c.assignee_id.is_null())
    if tag is not None:
        from qandu.storage.review import _tagged

        query = query.where(_tagged(c, tag))
    if before is not None:
        stamp, last_id = parse_cursor(before)
        key = peewee.Tuple(c.last_message_at, c.id)
        query = query.where(key < peewee.Tuple(c.last_message_at.db_value(stamp), last_id))
    return _with_participants(db, list(query.dicts()))


def add_participant(db: Db, conversation_id: str, user: User) -> Conversation:
    """Add ``user`` (type from its kind, role from its role); a rejoin clears ``left_at``."""
    require_conversation(db, conversation_id)
    _require_users(db, [user])
    p = db.m.Participant
    where = (p.conversation == conversation_id) & (p.user == user.id)
    if p.select().where(where).exists():
        p.update(left_at=None, type=user.kind, role=user.role).where(where).execute()
    else:
        p.insert(**_participant_row(conversation_id, user, utcnow())).execute()
    touch(db, conversation_id)
    return require_conversation(db, conversation_id)


def remove_participant(db: Db, conversation_id: str, user_id: str) -> Conversation:
    """Mark ``user_id`` as gone (``left_at``); ``NotFound`` if never a participant."""
    require_conversation(db, conversation_id)
    p = db.m.Participant
    where = (p.conversation == conversation_id) & (p.user == user_id)
    if not p.select().where(where).exists():
        raise NotFound(f"{user_id!r} is not a participant", field="user_id")
    p.update(left_at=utcnow()).where(where & p.left_at.is_null()).execute()
    touch(db, conversation_id)
    return require_conversation(db, conversation_id)


def touch(db: Db, conversation_id: str, **changes: Any) -> None:
    """Write ``changes`` (field name -> value) and a new ``updated_at``.

    Hand-written: every conversation write runs it (peewee's builder cost ~0.2 ms).
    """
    changes["updated_at"] = utcnow()
    table = db.conversations
    db.sql(table.update(list(changes), '"id" = ?'), (*table.encode_fields(changes), conversation_id))


def locked_fields(db: Db, conversation_id: str, *names: str) -> dict[str, Any]:
    """Some fields of the conversation, its row locked until commit on PostgreSQL (another node
    may change it concurrently; on SQLite the writer's transaction holds the whole database)."""
    table = db.conversations
    columns = ", ".join(f'"{table.column(name)}"' for name in names)
    lock = " FOR UPDATE" if db.is_postgresql else ""
    row = db.sql(f'SELECT {columns} FROM "conversations" WHERE "id" = ?{lock}', (conversation_id,)).fetchone()
    if row is None:
        raise NotFound(f"no conversation {conversation_id!r}", field="conversation_id")
    return {name: table.decode_column(name, value) for name, value in zip(names, row, strict=True)}


def _current_status(db: Db, conversation_id: str) -> str:
    return str(locked_fields(db, conversation_id, "status")["status"])


def set_status(
    db: Db, conversation_id: str, status: str, *, by: str | None, reason: str | None
) -> tuple[Conversation, StatusChange]:
    """Move to ``status`` if the status machine allows it, and record the change."""
    current = _current_status(db, conversation_id)
    check_transition(current, status)  # type: ignore[arg-type]
    now = utcnow()
    touch(db, conversation_id, status=status)
    _queue_clock(db, conversation_id, status, now)
    row = {
        "conversation": conversation_id,
        "from_status": current,
        "to_status": status,
        "changed_by": by,
        "reason": reason,
        "changed_at": now,
    }
    db.m.StatusChange.insert(**row).execute()
    return require_conversation(db, conversation_id), status_change_from_row(row)


def _queue_clock(db: Db, conversation_id: str, status: str, now: dt.datetime) -> None:
    """Start the queue clock on entering ``pending``; stop it and the SLA clocks on closing.

    ``queued_at`` keeps the first time of an episode: a conversation requeued after its agent
    left keeps its place, and a resolved one that reopens starts a new episode.
    """
    c = db.m.Conversation
    if status == "pending":
        c.update(queued_at=now).where((c.id == conversation_id) & c.queued_at.is_null()).execute()
    elif status in ("resolved", "archived"):
        c.update(queued_at=None, first_response_due=None, next_response_due=None).where(
            c.id == conversation_id
        ).execute()


def status_history(db: Db, conversation_id: str) -> list[StatusChange]:
    s = db.m.StatusChange
    rows = s.select().where(s.conversation == conversation_id).order_by(s.id).dicts()
    return [status_change_from_row(row) for row in rows]


def merged_context(stored: dict[str, Any] | None, changes: dict[str, Any]) -> dict[str, Any]:
    """``stored`` with ``changes`` merged in (a ``None`` value removes its key)."""
    merged = {**(stored or {}), **changes}
    return {key: value for key, value in merged.items() if value is not None}


def update_context(db: Db, conversation_id: str, changes: dict[str, Any]) -> Conversation:
    """Merge ``changes`` into the context (``None`` removes a key); other keys are kept."""
    stored = locked_fields(db, conversation_id, "context")["context"]
    touch(db, conversation_id, context=merged_context(stored, changes))
    return require_conversation(db, conversation_id)


def update_conversation(db: Db, conversation_id: str, **fields: Any) -> Conversation:
    """Change only the given fields (``UNSET`` ones are left alone)."""
    changes = {name: value for name, value in fields.items() if value is not UNSET}
    if "priority" in changes:
        check_priority(changes["priority"])
    if "tags" in changes:
        changes["tags"] = list(dict.fromkeys(changes["tags"] or ()))
    require_conversation(db, conversation_id)
    if changes:
        touch(db, conversation_id, **changes)
    return require_conversation(db, conversation_id)
