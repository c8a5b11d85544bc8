"""Dashboard fan-out: every supervisor's dashboard gets the newest state of each
call that changed, coalesced, however many dashboards and however busy the hub.

The hub calls :meth:`Fanout.changed` for each ingested event.  At most every
``flush_s`` the fan-out reads the changed calls from the database **once, for
all dashboards**, keeps their newest state, and marks them on every dashboard's
feed.  A feed is a *dirty set* (call id -> when its oldest change not yet sent
to that dashboard was ingested), never a queue: when a dashboard is still
sending as the next flush comes, the new ids are merged into its set, and when
it is free it sends one message with the newest state of each.  A slow
dashboard therefore skips to the newest states, never receives a stale update,
and never holds more than one entry per call (nothing to drop, so nothing is
dropped).  Dashboards that keep up share one serialised message per flush.

Message (one per flush, or per catch-up of a slow dashboard)::

    {"kind": "update", "changes": [{"call": {...}, "rev": 12, "ingested_ms": 1.7e12}, ...],
     "sent_ms": 1.7e12}

``rev`` counts the changes this hub has ingested for the call (the state
includes the first ``rev`` of them); ``ingested_ms`` is when the oldest change
this dashboard had not yet seen was ingested, so ``sent_ms - ingested_ms`` is
how stale the dashboard was for that call.  Numbers are finite (serialised with
``allow_nan=False``; a call whose stored state is not is left out and counted).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

log = logging.getLogger("calmline.hub")

FLUSH_S = 0.1
MAX_TRACKED_CALLS = 50_000           # change counters kept (oldest forgotten first)

ReadCalls = Callable[[list[str]], list[dict[str, Any]]]


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@dataclass
class FanoutStats:
    flushes: int = 0           # database reads (one per flush, whatever the number of dashboards)
    messages: int = 0          # update messages sent, all dashboards together
    shared: int = 0            # of which reused the flush's serialised message
    coalesced: int = 0         # changes merged into a dashboard's unsent entry for that call
    unserialisable: int = 0    # call states left out: not representable as finite JSON
    errors: int = 0            # flushes whose database read failed (retried at the next flush)


class DashboardFeed:
    """One dashboard's pending changes: at most one entry per call."""

    def __init__(self) -> None:
        self.dirty: dict[str, float] = {}          # call id -> oldest unsent change (epoch ms)
        self.prepared: str | None = None           # the flush's message, when ``dirty`` is exactly its set
        self.wake = asyncio.Event()


class Fanout:
    def __init__(self, read_calls: ReadCalls, *, flush_s: float = FLUSH_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.read_calls = read_calls
        self.flush_s = flush_s
        self.clock = clock
        self.feeds: set[DashboardFeed] = set()
        self.stats = FanoutStats()
        self.latest: dict[str, tuple[dict[str, Any], int]] = {}   # newest state and rev, for dirty ids
        self._revs: OrderedDict[str, int] = OrderedDict()
        self._pending: dict[str, float] = {}
        self._task: asyncio.Task | None = None

    @property
    def task(self) -> asyncio.Task | None:
        """The pending flush, if any (cancelled at shutdown)."""
        return self._task

    # --- ingest side ---------------------------------------------------------------
    def changed(self, call_id: str) -> None:
        """An event of ``call_id`` was ingested (call from the event loop)."""
        self._revs[call_id] = self._revs.get(call_id, 0) + 1
        self._revs.move_to_end(call_id)
        if len(self._revs) > MAX_TRACKED_CALLS:
            self._revs.popitem(last=False)
        self._pending.setdefault(call_id, self.clock() * 1000.0)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_s)
        self.flush()
        if self._pending and self.feeds:                        # a failed read: try again
            self._task = asyncio.get_running_loop().create_task(self._flush_later())

    def flush(self) -> None:
        """Read the changed calls once and mark them on every dashboard's feed."""
        pending, self._pending = self._pending, {}
        if not pending or not self.feeds:
            return
        revs = {call_id: self._revs.get(call_id, 0) for call_id in pending}
        try:
            states = self.read_calls(list(pending))
        except sqlite3.Error as exc:
            self.stats.errors += 1
            log.warning("dashboard update skipped: %s", exc)
            for call_id, ms in pending.items():
                self._pending.setdefault(call_id, ms)
            return
        self.stats.flushes += 1
        found = {}
        for state in states:
            call_id = state["id"]
            self.latest[call_id] = (state, revs[call_id])
            found[call_id] = pending[call_id]
        if not found:
            return
        shared: str | None = None
        for feed in self.feeds:
            if not feed.dirty:                   # caught up: this flush is exactly what it needs
                feed.dirty = dict(found)
                if shared is None:
                    shared = self._render(found)
                feed.prepared = shared
            else:                                # still sending: merge, newest state read at send time
                for call_id, ms in found.items():
                    if call_id in feed.dirty:
                        self.stats.coalesced += 1
                    else:
                        feed.dirty[call_id] = ms
                feed.prepared = None
            feed.wake.set()
        self._forget_unneeded()

    def _forget_unneeded(self) -> None:
        if len(self.latest) <= 64:
            return
        needed: set[str] = set()
        for feed in self.feeds:
            needed.update(feed.dirty)
        for call_id in [c for c in self.latest if c not in needed]:
            del self.latest[call_id]

    def _render(self, dirty: dict[str, float]) -> str:
        changes = []
        for call_id, ms in dirty.items():
            state, rev = self.latest[call_id]
            changes.append({"call": state, "rev": rev, "ingested_ms": ms})
        try:
            return dumps({"kind": "update", "changes": changes})
        except ValueError:                       # a non-finite number in a stored state
            good = []
            for change in changes:
                try:
                    dumps(change)
                    good.append(change)
                except ValueError:
                    self.stats.unserialisable += 1
                    log.warning("call %s left out of a dashboard update: its stored state has a "
                                "non-finite number (%d so far)", change["call"].get("id"),
                                self.stats.unserialisable)
            return dumps({"kind": "update", "changes": good})

    # --- dashboard side ------------------------------------------------------------
    def add_feed(self) -> DashboardFeed:
        feed = DashboardFeed()
        self.feeds.add(feed)
        return feed

    def remove_feed(self, feed: DashboardFeed) -> None:
        self.feeds.discard(feed)

    def take(self, feed: DashboardFeed) -> str | None:
        """The feed's next message (its whole dirty set, newest states), or None."""
        if not feed.dirty:
            return None
        dirty, prepared = feed.dirty, feed.prepared
        feed.dirty, feed.prepared = {}, None
        if prepared is not None:
            self.stats.shared += 1
            text = prepared
        else:
            text = self._render({c: ms for c, ms in dirty.items() if c in self.latest})
        self.stats.messages += 1
        return text[:-1] + f',"sent_ms":{self.clock() * 1000.0:.1f}}}'

    async def serve(self, feed: DashboardFeed, send_text: Callable[[str], Awaitable[Any]]) -> None:
        """Send the feed's changes as they come, until cancelled or the send fails."""
        while True:
            await feed.wake.wait()
            feed.wake.clear()
            text = self.take(feed)
            if text is not None:
                await send_text(text)

    def snapshot(self, calls: list[dict[str, Any]]) -> str:
        """The first message a dashboard gets: every listed call."""
        good = []
        for call in calls:
            try:
                dumps(call)
                good.append(call)
            except ValueError:
                self.stats.unserialisable += 1
        return dumps({"kind": "calls", "calls": good})
