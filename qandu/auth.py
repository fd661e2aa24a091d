"""Signed, expiring tokens; argon2 password hashes; site-signed customer identities."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path

import argon2
import attrs
import jwt

from qandu.config import AuthConfig
from qandu.domain import User
from qandu.errors import Unauthorized

_hasher = argon2.PasswordHasher()
_ALGORITHM = "HS256"


def hash_password(password: str) -> str:
    """Return an argon2id hash of ``password``."""
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """Return True if ``password`` matches ``password_hash`` (False for accounts without one)."""
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except argon2.exceptions.VerificationError:
        return False
    except argon2.exceptions.InvalidHashError:
        return False


def site_signature(secret: str, user_id: str) -> str:
    """The HMAC-SHA256 (hex) a host site sends to prove it vouches for ``user_id``."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


@attrs.frozen
class Claims:
    """What a verified token says about its bearer."""

    user_id: str
    role: str
    expires_at: int


class Auth:
    """Issue and verify tokens for customers, agents, admins and bots."""

    def __init__(self, config: AuthConfig, data_dir: Path) -> None:
        self.config = config
        self._key = config.secret or _load_or_create_key(data_dir / "secret.key")

    def issue(self, user: User, *, ttl: int | None = None) -> str:
        if ttl is None:
            ttl = self.config.staff_token_ttl if user.is_staff else self.config.customer_token_ttl
        now = int(time.time())
        payload = {"sub": user.id, "role": user.role, "iat": now, "exp": now + ttl}
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM)

    def verify(self, token: str) -> Claims:
        """Return the token's claims; raise :class:`Unauthorized` if invalid or expired."""
        try:
            payload = jwt.decode(
                token, self._key, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]}
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid token") from None
        return Claims(user_id=payload["sub"], role=payload.get("role", ""), expires_at=payload["exp"])

    def issue_scoped(self, subject: str, *, audience: str, ttl: int, **claims: str) -> str:
        """A short-lived token for one purpose (``audience``), such as a file download link.

        Scoped tokens and session tokens never stand in for each other: a session token has
        no audience, and :meth:`verify` refuses any token that has one.
        """
        now = int(time.time())
        payload = {"sub": subject, "aud": audience, "iat": now, "exp": now + ttl, **claims}
        return jwt.encode(payload, self._key, algorithm=_ALGORITHM)

    def verify_scoped(self, token: str, *, audience: str) -> dict[str, object]:
        """Return the claims of a token from :meth:`issue_scoped`; raise :class:`Unauthorized`."""
        try:
            return jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=audience,
                options={"require": ["sub", "aud", "exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("link expired") from None
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid link signature") from None

    def verify_site_user(self, site: str, user_id: str, signature: str) -> str:
        """Check a host site's signature of ``user_id``; return the external id ``site:user_id``."""
        site_config = self.config.sites.get(site)
        if site_config is None:
            raise Unauthorized(f"unknown site {site!r}", field="site")
        expected = site_signature(site_config.secret, user_id)
        if not hmac.compare_digest(expected, signature):
            raise Unauthorized("userHash does not match userId", field="userHash")
        return f"{site}:{user_id}"


def _load_or_create_key(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key)
    return key
