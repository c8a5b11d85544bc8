"""Reading a call back without holding all of it in memory.

A long (or abusive) call can hold hundreds of thousands of events; reading them
all as Python objects took a hub from 200 to 700 MB.  So:

- ``GET /api/calls/{id}`` returns the call, its summary, incident and clips, and
  one page of its events: ``?after_seq=N&limit=M`` (at most :data:`PAGE_MAX`
  events and about :data:`PAGE_CHARS` characters of them); ``next_after_seq`` is
  the ``after_seq`` for the next page, ``null`` after the last.
- The call report streams the events from the database in chunks into the
  renderer; the level meter (most of a call's events) is thinned to at most
  :data:`REPORT_LEVEL_POINTS` readings, and past :data:`REPORT_EVENTS` other
  events or :data:`REPORT_CHARS` characters the report stops and says so.
"""

from __future__ import annotations

import html
import math
from typing import Any, Iterator

from monitor.hub.store import Store
from monitor.hub.wire import finite_or_none, load_stored

PAGE_DEFAULT = 500
PAGE_MAX = 2000
PAGE_CHARS = 4 * 1024 * 1024
CHUNK = 64                                  # rows read from the database at a time
REPORT_LEVEL_POINTS = 20_000
REPORT_EVENTS = 50_000
REPORT_CHARS = 16 * 1024 * 1024
CALL_FIELDS = ("id", "operator", "state", "peak_state", "duration", "started_at", "ended_at")


def _rows(store: Store, call_id: str, after_seq: int) -> Iterator[Any]:
    while True:
        rows = store.event_rows(call_id, after_seq, CHUNK)
        yield from rows
        if len(rows) < CHUNK:
            return
        after_seq = int(rows[-1]["seq"])


def events_page(store: Store, call_id: str, after_seq: int = -1,
                limit: int = PAGE_DEFAULT) -> tuple[list[dict[str, Any]], int | None]:
    """Up to ``limit`` events after ``after_seq`` (and about PAGE_CHARS of them),
    and the ``after_seq`` of the next page (None when there is none)."""
    events: list[dict[str, Any]] = []
    chars = 0
    last = after_seq
    for row in _rows(store, call_id, after_seq):
        if len(events) >= limit or (events and chars + len(row["body"]) > PAGE_CHARS):
            return events, last
        events.append(load_stored(row["body"]))
        chars += len(row["body"])
        last = int(row["seq"])
    return events, None


def call_detail(store: Store, row: dict[str, Any], after_seq: int, limit: int) -> dict[str, Any]:
    call_id = row["id"]
    events, next_after = events_page(store, call_id, after_seq, limit)
    call = {k: row[k] for k in CALL_FIELDS}
    call["duration"] = finite_or_none(call["duration"])      # a database poisoned before the checks
    return {"call": call | {"flags": load_stored(row["flags"]), "flagged": bool(row["flagged"])},
            "summary": load_stored(row["summary"]) if row.get("summary") else None,
            "incident": store.incident(call_id), "clips": store.clips(call_id),
            "events": events, "next_after_seq": next_after}


class ReportEvents:
    """The call's events for the report, streamed and bounded; ``truncated_at``
    is the seq it stopped before (None when every event was used)."""

    def __init__(self, store: Store, call_id: str) -> None:
        self.store, self.call_id = store, call_id
        levels = store.count_events(call_id, "level")
        self.level_stride = max(1, math.ceil(levels / REPORT_LEVEL_POINTS))
        self.truncated_at: int | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        levels = others = chars = 0
        for row in _rows(self.store, self.call_id, -1):
            if row["type"] == "level":
                levels += 1
                if (levels - 1) % self.level_stride:
                    continue
            else:
                others += 1
                chars += len(row["body"])
                if others > REPORT_EVENTS or chars > REPORT_CHARS:
                    self.truncated_at = int(row["seq"])
                    return
            yield load_stored(row["body"])


def render_call_report(store: Store, call_id: str) -> str:
    from monitor.report.html import render_report

    events = ReportEvents(store, call_id)
    page = render_report(events)            # iterated once, as the events stream in
    if events.truncated_at is not None:
        note = (f'<p class="warn"><b>shortened:</b> this call is too long to show whole; the report '
                f"stops before event {events.truncated_at}. Read the rest page by page from "
                f"{html.escape(f'/api/calls/{call_id}?after_seq=...')}.</p>")
        page = page.replace("</header>", note + "</header>", 1)
    return page
