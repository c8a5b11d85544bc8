"""Hub users and bearer tokens.

A token is shown once, when the user is added, and stored only as its SHA-256
hash.  Revoking keeps the row (for the audit trail) and stops the token working.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from monitor.errors import CalmlineError
from monitor.hub.store import Store

ROLES = ("supervisor", "operator")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class User:
    name: str
    role: str


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


_hash = token_hash


def add_user(store: Store, name: str, role: str) -> str:
    """Create a user; returns their new token (shown once)."""
    if role not in ROLES:
        raise CalmlineError(f"--role {role!r}: use supervisor or operator")
    if not _NAME.match(name):
        raise CalmlineError(f"user name {name!r}: use letters, digits, . _ @ - (at most 64)")
    if store.query("SELECT 1 FROM users WHERE name = ?", (name,)):
        raise CalmlineError(f"user {name!r} already exists (revoke it first, or pick another name)")
    token = secrets.token_urlsafe(32)
    store.execute("INSERT INTO users (name, role, token_hash, created_at) VALUES (?, ?, ?, ?)",
                  (name, role, _hash(token), time.time()))
    return token


def revoke_user(store: Store, name: str) -> None:
    if not store.execute("UPDATE users SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                         (time.time(), name)):
        raise CalmlineError(f"no active user named {name!r}")


def list_users(store: Store) -> list[dict]:
    return [dict(r) for r in store.query(
        "SELECT name, role, created_at, revoked_at FROM users ORDER BY name")]


def authenticate(store: Store, token: str | None) -> User | None:
    if not token:
        return None
    rows = store.query("SELECT name, role FROM users WHERE token_hash = ? AND revoked_at IS NULL",
                       (_hash(token),))
    return User(rows[0]["name"], rows[0]["role"]) if rows else None


def valid_token_hashes(store: Store, hashes: set[str]) -> set[str]:
    """Which of these token hashes still belong to an unrevoked user."""
    if not hashes:
        return set()
    marks = ", ".join("?" * len(hashes))
    return {r[0] for r in store.query(
        f"SELECT token_hash FROM users WHERE revoked_at IS NULL AND token_hash IN ({marks})",
        sorted(hashes))}
