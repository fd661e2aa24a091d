"""Cluster leases: one row per named piece of work, held by one node at a time (writer jobs).

A lease has a *holder* (a node's id), an expiry (epoch seconds) and a *fencing token*: a
counter that goes up by one every time the lease changes hands.  A holder renews its lease
before it runs out; a node that stops renewing (it died, or lost the database) loses the
lease at its expiry, and the next node to ask takes it with a higher token.  A write that
must not come from a stale holder checks its token in the same transaction
(:func:`check_token`); on PostgreSQL that check share-locks the lease row, so a takeover
waits until the fenced transaction has committed, and a write after the takeover fails.

The functions run in the store's writer (SQLite serialises them on ``BEGIN IMMEDIATE``;
PostgreSQL on the row and its primary key), so two nodes never both take a lease.
"""

from __future__ import annotations

import attrs

from qandu.errors import Conflict
from qandu.storage.columns import fetch_one
from qandu.storage.models import Db


class LeaseLost(Conflict):
    """The lease was taken over (or released): the work it guarded must stop."""


@attrs.frozen
class Grant:
    """A lease as the database recorded it: who holds it, until when, with which token."""

    name: str
    holder: str
    token: int
    expires_at: float


def acquire(db: Db, name: str, holder: str, *, now: float, ttl: float) -> Grant | None:
    """Take the lease if nobody holds it, it expired, or ``holder`` had it; ``None`` if it is held.

    Every grant gets a new token (one more than the last), also when the same holder takes
    its lease again: a holder acquires only when none of its tasks holds the lease.
    """
    row = fetch_one(
        db,
        "INSERT INTO cluster_leases AS l (name, holder, token, expires_at, acquired_at)"
        " VALUES (?, ?, 1, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = l.token + 1,"
        " expires_at = excluded.expires_at, acquired_at = excluded.acquired_at"
        " WHERE l.expires_at <= ? OR l.holder = excluded.holder"
        " RETURNING token",
        (name, holder, now + ttl, now, now),
    )
    return None if row is None else Grant(name, holder, int(row["token"]), now + ttl)


def renew(db: Db, name: str, holder: str, token: int, *, now: float, ttl: float) -> Grant | None:
    """Push an unexpired lease's expiry to ``now + ttl``; ``None`` if it expired or changed hands."""
    changed = db.sql(
        "UPDATE cluster_leases SET expires_at = ?"
        " WHERE name = ? AND holder = ? AND token = ? AND expires_at > ?",
        (now + ttl, name, holder, token, now),
    ).rowcount
    return Grant(name, holder, token, now + ttl) if changed else None


def release(db: Db, name: str, holder: str, token: int) -> bool:
    """Give the lease up now (the next node need not wait for its expiry); False if it was not ours."""
    return bool(
        db.sql(
            "UPDATE cluster_leases SET expires_at = 0 WHERE name = ? AND holder = ? AND token = ?",
            (name, holder, token),
        ).rowcount
    )


def current(db: Db, name: str) -> Grant | None:
    """The lease's row as it is (held or expired), or ``None`` if it was never taken."""
    row = fetch_one(db, "SELECT name, holder, token, expires_at FROM cluster_leases WHERE name = ?", (name,))
    if row is None:
        return None
    return Grant(row["name"], row["holder"], int(row["token"]), float(row["expires_at"]))


def check_token(db: Db, name: str, token: int) -> None:
    """Fence a write: raise :class:`LeaseLost` unless ``token`` is still the lease's current token.

    Call it first in the writer job that does the guarded work; on PostgreSQL the lease row
    stays share-locked until that job's transaction ends.
    """
    lock = " FOR SHARE" if db.is_postgresql else ""
    row = db.sql(f"SELECT token FROM cluster_leases WHERE name = ?{lock}", (name,)).fetchone()
    if row is None or int(row[0]) != token:
        raise LeaseLost(f"lease {name!r} was taken over (token {token} is stale)")
