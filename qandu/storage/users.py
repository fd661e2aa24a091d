"""User operations (run in a database thread; ``Store`` wraps them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import peewee

from qandu.domain import ROLES, User, utcnow
from qandu.errors import Conflict, InvalidRequest, NotFound
from qandu.storage.convert import user_from_row
from qandu.storage.models import Db

USER_KINDS = ("user", "agent", "ai")
BOT_ID_PREFIX = "bot:"


def normalize_email(email: str | None) -> str | None:
    """Emails are matched case-insensitively: store and look them up stripped and lower-cased."""
    if email is None:
        return None
    email = email.strip().lower()
    return email or None


def bot_user_id(bot_name: str) -> str:
    return f"{BOT_ID_PREFIX}{bot_name}"


def _check_kind_role(kind: str, role: str) -> None:
    if kind not in USER_KINDS:
        raise InvalidRequest(f"unknown user kind {kind!r}", field="kind")
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}", field="role")


def _check_unique(db: Db, *, email: str | None, external_id: str | None) -> None:
    u = db.m.User
    if email is not None and u.select().where(u.email == email).exists():
        raise Conflict("a user with this email already exists", field="email")
    if external_id is not None and u.select().where(u.external_id == external_id).exists():
        raise Conflict("a user with this external id already exists", field="external_id")


def create_user(
    db: Db,
    *,
    kind: str,
    role: str,
    name: str,
    email: str | None = None,
    external_id: str | None = None,
    password_hash: str | None = None,
    avatar: str | None = None,
    attributes: dict[str, Any] | None = None,
    user_id: str | None = None,
) -> User:
    """Insert a user; ``Conflict`` if the email or external id is taken."""
    _check_kind_role(kind, role)
    email = normalize_email(email)
    _check_unique(db, email=email, external_id=external_id)
    row = {
        "id": user_id or uuid.uuid4().hex,
        "kind": kind,
        "role": role,
        "name": name,
        "email": email,
        "external_id": external_id,
        "password_hash": password_hash,
        "avatar": avatar,
        "attributes": attributes or {},
        "created_at": utcnow(),
    }
    try:
        with db.database.atomic():  # another node may have inserted it since the check
            db.m.User.insert(**row).execute()
    except peewee.IntegrityError as exc:
        raise Conflict("a user with this id, email or external id already exists") from exc
    return user_from_row(row)


def _select_user(db: Db) -> peewee.ModelSelect:
    u = db.m.User
    return u.select(u.id, u.kind, u.role, u.name, u.email, u.external_id, u.avatar)


def get_user(db: Db, user_id: str) -> User | None:
    # hand-written: every request and frame resolves its user (peewee's builder cost ~0.3 ms)
    values = db.sql(db.users.where('"id" = ?'), (user_id,)).fetchone()
    return None if values is None else user_from_row(db.users.decode(values))


def get_users(db: Db, ids: Iterable[str]) -> dict[str, User]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = _select_user(db).where(db.m.User.id.in_(wanted)).dicts()
    return {row["id"]: user_from_row(row) for row in rows}


def list_users(db: Db, role: str | None = None) -> list[User]:
    u = db.m.User
    query = _select_user(db).order_by(u.created_at, u.id)
    if role is not None:
        query = query.where(u.role == role)
    return [user_from_row(row) for row in query.dicts()]


def find_login(db: Db, email: str) -> tuple[User, str | None] | None:
    """Return the user with this email and their password hash, or ``None``."""
    u = db.m.User
    row = (
        _select_user(db)
        .select_extend(u.password_hash)
        .where(u.email == normalize_email(email))
        .dicts()
        .first()
    )
    return None if row is None else (user_from_row(row), row["password_hash"])


def find_external_user(db: Db, external_id: str) -> User | None:
    row = _select_user(db).where(db.m.User.external_id == external_id).dicts().first()
    return None if row is None else user_from_row(row)


def get_or_create_external_user(db: Db, external_id: str, *, name: str, email: str | None = None) -> User:
    """Return the customer the site knows as ``external_id``, creating it on first sight."""
    existing = find_external_user(db, external_id)
    if existing is not None:
        return existing
    try:
        return create_user(db, kind="user", role="customer", name=name, email=email, external_id=external_id)
    except Conflict:
        existing = find_external_user(db, external_id)  # created concurrently by another node
        if existing is None:
            raise
        return existing


def ensure_bot_user(db: Db, bot_name: str, *, display_name: str, avatar: str | None = None) -> User:
    """Create or refresh the bot's user ``bot:<name>`` (kind and role ``ai``)."""
    user_id = bot_user_id(bot_name)
    u = db.m.User
    existing = get_user(db, user_id)
    if existing is None:
        return create_user(db, user_id=user_id, kind="ai", role="ai", name=display_name, avatar=avatar)
    if (existing.name, existing.avatar) != (display_name, avatar):
        u.update(name=display_name, avatar=avatar).where(u.id == user_id).execute()
    return User(id=user_id, kind="ai", role="ai", name=display_name, avatar=avatar)


def set_password(db: Db, user_id: str, password_hash: str | None) -> None:
    u = db.m.User
    if not u.update(password_hash=password_hash).where(u.id == user_id).execute():
        raise NotFound(f"no user {user_id!r}", field="user_id")


def get_attributes(db: Db, user_id: str) -> dict[str, Any]:
    u = db.m.User
    row = u.select(u.attributes).where(u.id == user_id).dicts().first()
    if row is None:
        raise NotFound(f"no user {user_id!r}", field="user_id")
    return dict(row["attributes"])


def update_attributes(db: Db, user_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    """Merge ``changes`` into the user's attributes (a ``None`` value removes a key)."""
    merged = get_attributes(db, user_id)
    merged.update(changes)
    merged = {key: value for key, value in merged.items() if value is not None}
    u = db.m.User
    u.update(attributes=merged).where(u.id == user_id).execute()
    return merged
