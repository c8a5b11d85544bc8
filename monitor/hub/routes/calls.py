"""Reading calls: the list, one call's details (paged events), its report.

- ``GET /api/calls``: supervisors every call, operators their own; at most
  ``limit`` (default :data:`CALLS_DEFAULT`, the most recently active), and
  ``truncated`` says when there were more.  Without filters (or ``all``) the
  live and flagged calls; ``since`` must be a finite number.
- ``GET /api/calls/{id}``: the call, its summary, incident and clips, and one
  page of its events (``after_seq``, ``limit``; :mod:`monitor.hub.reads`).
- ``GET /api/calls/{id}/report``: the HTML report, streamed from the database,
  served with a Content-Security-Policy that allows no script.
"""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse

from monitor.hub.reads import PAGE_DEFAULT, PAGE_MAX, call_detail, render_call_report
from monitor.hub.routes.deps import StoreDep, UserDep, readable_call
from monitor.hub.validate import INT64_MAX

CALLS_DEFAULT, CALLS_MAX = 1000, 5000  # calls in one GET /api/calls
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'"

router = APIRouter()


@router.get("/api/calls")
async def calls(user: UserDep, store: StoreDep, state: str | None = None,
                operator: str | None = None, since: float | None = None,
                flagged: bool | None = None, all: bool = Query(False),
                limit: int = Query(CALLS_DEFAULT, ge=1, le=CALLS_MAX)) -> dict[str, Any]:
    if user.role != "supervisor":
        if operator not in (None, user.name):
            raise HTTPException(403, "operators can read only their own calls")
        operator = user.name
    if since is not None and not math.isfinite(since):
        raise HTTPException(422, "since must be a finite number (epoch seconds)")
    found = store.calls(operator=operator, state=state, since=since, flagged=flagged,
                        all_calls=all or since is not None or operator is not None, limit=limit + 1)
    # at most ``limit`` (the most recently active): a database of months of calls is not
    # read whole for one request
    return {"calls": found[:limit], "truncated": len(found) > limit}


@router.get("/api/calls/{call_id}")
def call(call_id: str, user: UserDep, store: StoreDep,
         after_seq: int = Query(-1, ge=-1, le=INT64_MAX),
         limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX)) -> dict[str, Any]:
    # plain def: reading and parsing a page of events runs in the threadpool
    return call_detail(store, readable_call(call_id, user, store), after_seq, limit)


@router.get("/api/calls/{call_id}/report", response_class=HTMLResponse)
def report(call_id: str, user: UserDep, store: StoreDep) -> HTMLResponse:
    # plain def: rendering is CPU work, so it runs in the threadpool
    readable_call(call_id, user, store)
    return HTMLResponse(render_call_report(store, call_id), headers={"Content-Security-Policy": REPORT_CSP})
