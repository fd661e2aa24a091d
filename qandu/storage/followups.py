"""Scheduled follow-ups: a persistent job table that several nodes may work on at once.

A job is ``scheduled`` until it is due; a node then *claims* it in one statement (status
``firing``, its node id and a lease), fires it and marks it ``done``.  SQLite serialises the
claim on the writer's ``BEGIN IMMEDIATE``; PostgreSQL claims with ``FOR UPDATE SKIP LOCKED``,
so two nodes never claim the same job.  A node that dies mid-fire leaves a ``firing`` job
whose lease runs out; the next claim takes it again, and firing is idempotent (the message
carries the job's id as its ``client_msg_id``), so the job's effect happens exactly once.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from qandu.domain import utcnow
from qandu.errors import Conflict, NotFound
from qandu.storage.columns import fetch_dicts, fetch_one, from_db_time, to_db_time
from qandu.storage.models import Db
from qandu.teamwork.types import Followup

#: A job that failed this many times is given up (``failed``).
MAX_ATTEMPTS = 5


def _followup(db: Db, row: dict[str, Any]) -> Followup:
    return Followup(
        id=row["id"],
        conversation_id=row["conversation_id"],
        kind=row["kind"],
        text=row["text"],
        due_at=from_db_time(db, row["due_at"]),  # type: ignore[arg-type]
        created_by=row["created_by"],
        created_at=from_db_time(db, row["created_at"]),  # type: ignore[arg-type]
        status=row["status"],
        attempts=row["attempts"],
        fired_at=from_db_time(db, row["fired_at"]),
        message_id=row["message_id"],
        error=row["error"],
    )


def create(
    db: Db, conversation_id: str, *, kind: str, text: str | None, due_at: dt.datetime, by: str
) -> Followup:
    followup_id = uuid.uuid4().hex
    db.sql(
        "INSERT INTO followups (id, conversation_id, kind, text, due_at, created_by, created_at, status)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, 'scheduled')",
        (followup_id, conversation_id, kind, text, to_db_time(db, due_at), by, to_db_time(db, utcnow())),
    )
    return get(db, followup_id)


def get(db: Db, followup_id: str) -> Followup:
    row = fetch_one(db, "SELECT * FROM followups WHERE id = ?", (followup_id,))
    if row is None:
        raise NotFound(f"no follow-up {followup_id!r}", field="followupId")
    return _followup(db, row)


def of_conversation(db: Db, conversation_id: str) -> list[Followup]:
    rows = fetch_dicts(
        db, "SELECT * FROM followups WHERE conversation_id = ? ORDER BY due_at, id", (conversation_id,)
    )
    return [_followup(db, row) for row in rows]


def cancel(db: Db, followup_id: str) -> Followup:
    """Cancel a job that has not fired (``Conflict`` once it is firing or done)."""
    job = get(db, followup_id)
    changed = db.sql(
        "UPDATE followups SET status = 'cancelled' WHERE id = ? AND status = 'scheduled'", (followup_id,)
    ).rowcount
    if not changed:
        raise Conflict(f"the follow-up is {job.status} and can no longer be cancelled", field="followupId")
    return get(db, followup_id)


def claim_due(db: Db, *, node: str, now: dt.datetime, lease: float, limit: int = 50) -> list[Followup]:
    """Claim up to ``limit`` due jobs (and jobs whose lease expired) for ``node``."""
    stamp = to_db_time(db, now)
    due = (
        "SELECT id FROM followups WHERE (status = 'scheduled' AND due_at <= ?)"
        " OR (status = 'firing' AND lease_until < ?) ORDER BY due_at LIMIT ?"
    )
    if db.is_postgresql:
        due += " FOR UPDATE SKIP LOCKED"
    rows = fetch_dicts(
        db,
        "UPDATE followups SET status = 'firing', claimed_by = ?, lease_until = ?, attempts = attempts + 1"
        f" WHERE id IN ({due}) RETURNING *",
        (node, to_db_time(db, now + dt.timedelta(seconds=lease)), stamp, stamp, limit),
    )
    return sorted((_followup(db, row) for row in rows), key=lambda job: (job.due_at, job.id))


def finish(db: Db, followup_id: str, *, node: str, message_id: str | None) -> bool:
    """Mark a job this node claimed as ``done``; False if the claim was lost meanwhile."""
    return bool(
        db.sql(
            "UPDATE followups SET status = 'done', fired_at = ?, message_id = ?, lease_until = NULL"
            " WHERE id = ? AND claimed_by = ? AND status = 'firing'",
            (to_db_time(db, utcnow()), message_id, followup_id, node),
        ).rowcount
    )


def fail(db: Db, followup_id: str, *, node: str, error: str, retry_at: dt.datetime | None) -> None:
    """Give a claimed job up (``failed``), or reschedule it for ``retry_at`` until ``MAX_ATTEMPTS``."""
    retry = retry_at is not None
    db.sql(
        "UPDATE followups SET status = CASE WHEN ? AND attempts < ? THEN 'scheduled' ELSE 'failed' END,"
        " due_at = CASE WHEN ? AND attempts < ? THEN ? ELSE due_at END,"
        " error = ?, lease_until = NULL WHERE id = ? AND claimed_by = ? AND status = 'firing'",
        (retry, MAX_ATTEMPTS, retry, MAX_ATTEMPTS, to_db_time(db, retry_at), error[:500], followup_id, node),
    )


def next_due(db: Db) -> dt.datetime | None:
    """When the next job is due (or a lease runs out), or ``None``."""
    row = db.sql(
        "SELECT MIN(at) FROM (SELECT MIN(due_at) AS at FROM followups WHERE status = 'scheduled'"
        " UNION ALL SELECT MIN(lease_until) AS at FROM followups WHERE status = 'firing') AS t"
    ).fetchone()
    return from_db_time(db, row[0]) if row and row[0] is not None else None
