"""The hub's live state, shared by its routes: who publishes which call, who
listens to it, the dashboards' fan-out, the publish limits and the open sockets.

One :class:`Hub` per app (``app.state.hub``); the routes reach it through
:mod:`monitor.hub.routes.deps`.  Nothing here is stored: a restarted hub starts
empty and the publishers and dashboards reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from monitor.hub.fanout import Fanout
from monitor.hub.limits import Limiter
from monitor.hub.sockets import Sockets
from monitor.hub.store import Store
from monitor.hub.wire import send_json

#: Ended calls (flagged ones) a dashboard's first snapshot lists besides the live ones
#: (``[hub] dashboard_ended_calls`` in the settings; this is its default).
SNAPSHOT_ENDED_DEFAULT = 200


class Hub:
    """Live state shared by the routes: publishers, listeners, dashboard clients."""

    def __init__(self, store: Store, *, snapshot_ended: int = SNAPSHOT_ENDED_DEFAULT) -> None:
        if isinstance(snapshot_ended, bool) or not isinstance(snapshot_ended, int) or snapshot_ended < 0:
            raise ValueError(f"snapshot_ended must be a whole number >= 0, not {snapshot_ended!r}")
        self.store = store
        self.snapshot_ended = snapshot_ended
        self.publishers: dict[str, Any] = {}                # call id -> publisher socket
        self.listeners: dict[str, set[Any]] = {}            # call id -> listening supervisors
        # dashboards: newest state per changed call, one database read per flush
        self.fanout = Fanout(lambda ids: store.calls(all_calls=True, ids=ids))
        self.limiter = Limiter()                            # publish rate and size limits, refusals
        self.sockets = Sockets(store)                       # open sockets, closed when revoked

    def ingested(self, call_id: str) -> None:
        self.fanout.changed(call_id)

    def snapshot_calls(self) -> list[dict[str, Any]]:
        """What a dashboard gets on connect: the live calls and the most recent
        :attr:`snapshot_ended` ended (flagged) ones - bounded, however many
        flagged calls the database holds until they are purged."""
        return self.store.dashboard_calls(self.snapshot_ended)

    async def set_listening(self, call_id: str, by: str) -> None:
        socket_ = self.publishers.get(call_id)
        on = bool(self.listeners.get(call_id))
        if socket_ is not None:
            with contextlib.suppress(Exception):
                await send_json(socket_, {"kind": "listen", "call_id": call_id, "on": on, "by": by})

    async def close(self) -> None:
        """At shutdown: stop the background tasks (revocation watch, dashboard flush)."""
        loop = asyncio.get_running_loop()
        for task in (self.sockets.task, self.fanout.task):
            if task is not None and not task.done() and task.get_loop() is loop:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
