"""Admin API keys: generation, hashing, constant-time verification, revocation.

A key looks like ``piu_<43 url-safe characters>``; it is shown once at creation and
only its SHA-256 hash is stored (:class:`core.models.ApiKey`). Keys may also come
from ``settings.admin_api_keys`` (``PIU_ADMIN_API_KEYS``): they are hashed at start
and never stored.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from core.config import Settings
from core.models import AdminSession, ApiKey, as_utc, utcnow

__all__ = [
    "KEY_PREFIX",
    "AuthError",
    "KeyRing",
    "Principal",
    "close_session",
    "create_key",
    "generate_key",
    "hash_key",
    "list_keys",
    "open_session",
    "principal_for",
    "revoke_key",
    "session_principal",
]

KEY_PREFIX = "piu_"
#: Characters of the key kept in clear to recognise it (``piu_`` + 8).
SHOWN_PREFIX_CHARS = 12
MAX_KEY_CHARS = 200


class AuthError(Exception):
    """A key that does not authenticate; the message is safe to show."""


@dataclass(frozen=True)
class Principal:
    """Who is calling the admin API (the key's name goes into the audit log)."""

    name: str
    key_id: int | None = None


def generate_key() -> str:
    """A new random key (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """Hex SHA-256 of a key (what is stored)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, *, name: str) -> tuple[ApiKey, str]:
    """Store a new key named ``name``; returns the row and the clear key (shown once)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("the key name must be 1 to 100 characters")
    taken = session.scalar(
        select(ApiKey.id).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    )
    if taken is not None:
        raise ValueError(f"an active key named {name!r} already exists")
    key = generate_key()
    row = ApiKey(name=name, key_hash=hash_key(key), prefix=key[:SHOWN_PREFIX_CHARS])
    session.add(row)
    session.flush()
    return row, key


def revoke_key(session: Session, *, name_or_prefix: str) -> list[ApiKey]:
    """Revoke every active key with this name or prefix; raises if there is none."""
    value = name_or_prefix.strip()
    rows = list(
        session.scalars(
            select(ApiKey).where(
                ApiKey.revoked_at.is_(None),
                or_(ApiKey.name == value, ApiKey.prefix == value[:SHOWN_PREFIX_CHARS]),
            )
        )
    )
    if value.startswith(KEY_PREFIX) and len(value) > SHOWN_PREFIX_CHARS:
        # a full key was given: only revoke the key it really is
        rows = [r for r in rows if hmac.compare_digest(r.key_hash, hash_key(value))] or rows
    if not rows:
        raise LookupError(f"no active key named or prefixed {value!r}")
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    session.flush()
    return rows


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


class KeyRing:
    """Verifies presented keys against the settings' keys and the database."""

    def __init__(self, settings: Settings) -> None:
        values = [
            s.get_secret_value() if isinstance(s, SecretStr) else str(s)
            for s in settings.admin_api_keys
        ]
        self._env_hashes = [hash_key(v) for v in values if v]

    def authenticate(self, session: Session, key: str | None) -> Principal:
        """The principal behind ``key``; raises :class:`AuthError` with a clear reason."""
        if not key:
            raise AuthError("missing API key (header X-API-Key)")
        if len(key) > MAX_KEY_CHARS:
            raise AuthError("invalid API key")
        return self.authenticate_digest(session, hash_key(key))

    def authenticate_digest(self, session: Session, digest: str) -> Principal:
        """The principal behind a key's hash (a login session keeps only that)."""
        matched_env = None
        for index, env_hash in enumerate(self._env_hashes, start=1):
            # compare with every configured key: time does not depend on which matched
            if hmac.compare_digest(env_hash, digest):
                matched_env = index
        if matched_env is not None:
            return Principal(name=f"env-key-{matched_env}")
        row = session.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            raise AuthError("invalid API key")
        if row.revoked_at is not None:
            raise AuthError("API key revoked")
        return Principal(name=row.name, key_id=row.id)


# -- browser login sessions (the analytics page) -------------------------------------------
def open_session(
    session: Session, keyring: KeyRing, key: str | None, *, seconds: int
) -> tuple[str, Principal]:
    """Check ``key`` and open a login session; returns the token for the cookie.

    The cookie never holds the key itself: a random token (256 bits) whose SHA-256 is
    stored with the key's hash, so logging out, expiry or revoking the key ends it.
    Expired sessions are purged on the way.
    """
    principal = keyring.authenticate(session, key)
    assert key is not None  # authenticate refused an empty key
    now = utcnow()
    session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
    token = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            token_hash=hash_key(token),
            key_hash=hash_key(key),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=seconds),
        )
    )
    session.flush()
    return token, principal


def principal_for(
    session: Session, keyring: KeyRing, *, key: str | None, token: str | None
) -> Principal:
    """Who calls: the ``X-API-Key`` header if given, else the login session of the cookie
    ``token``; :class:`AuthError` if neither authenticates."""
    if not key and token is not None:
        return session_principal(session, keyring, token)
    return keyring.authenticate(session, key)


def session_principal(session: Session, keyring: KeyRing, token: str | None) -> Principal:
    """The principal of a login session token; :class:`AuthError` if it is not valid now."""
    if not token or len(token) > MAX_KEY_CHARS:
        raise AuthError("not logged in")
    row = session.scalar(select(AdminSession).where(AdminSession.token_hash == hash_key(token)))
    if row is None or as_utc(row.expires_at) <= utcnow():
        raise AuthError("login session expired or closed")
    return keyring.authenticate_digest(session, row.key_hash)


def close_session(session: Session, token: str | None) -> bool:
    """End a login session (logout); True if there was one."""
    if not token or len(token) > MAX_KEY_CHARS:
        return False
    done = session.execute(delete(AdminSession).where(AdminSession.token_hash == hash_key(token)))
    return bool(getattr(done, "rowcount", 0))
