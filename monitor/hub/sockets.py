"""The hub's open WebSockets, so that revoking a token closes them.

``calmline hub user revoke`` runs in another process and only writes the
database, so the hub looks: every :data:`CHECK_S` seconds, while any socket is
open, it asks the store which of the open sockets' tokens are still valid and
closes the others (code 4401, "token revoked") - dashboards, publishers and
listeners alike, within a second of the revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import weakref
from typing import Any

from starlette.websockets import WebSocketState

from monitor.hub.auth import User, token_hash, valid_token_hashes
from monitor.hub.store import Store

CHECK_S = 0.25


class Sockets:
    def __init__(self, store: Store, check_s: float = CHECK_S) -> None:
        self.store = store
        self.check_s = check_s
        # socket -> (token hash, user, route); weak, so a route that ended without
        # saying so (a failed send) does not keep its socket here for ever
        self._open: weakref.WeakKeyDictionary[Any, tuple[str, User, str]] = weakref.WeakKeyDictionary()
        self._task: asyncio.Task | None = None
        self.revoked_closed = 0

    @property
    def task(self) -> asyncio.Task | None:
        """The revocation watch, while sockets are open (cancelled at shutdown)."""
        return self._task

    def add(self, ws: Any, token: str, user: User, route: str) -> None:
        self._open[ws] = (token_hash(token), user, route)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())

    def discard(self, ws: Any) -> None:
        self._open.pop(ws, None)

    def count(self, user: str, route: str) -> int:
        self._prune()
        return sum(1 for _, u, r in self._open.values() if u.name == user and r == route)

    def _prune(self) -> None:
        for ws in [ws for ws in self._open if _closed(ws)]:
            self._open.pop(ws, None)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            self._prune()
            if not self._open:
                return
            try:
                valid = valid_token_hashes(self.store, {h for h, _, _ in self._open.values()})
            except sqlite3.Error:
                continue                      # the database is busy or broken: look again soon
            for ws, (digest, _, _) in list(self._open.items()):
                if digest not in valid:
                    self._open.pop(ws, None)
                    self.revoked_closed += 1
                    with contextlib.suppress(Exception):
                        await ws.close(code=4401, reason="token revoked")


def _closed(ws: Any) -> bool:
    return (getattr(ws, "client_state", None) == WebSocketState.DISCONNECTED
            or getattr(ws, "application_state", None) == WebSocketState.DISCONNECTED)
