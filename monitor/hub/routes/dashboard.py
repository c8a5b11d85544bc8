"""The supervisor dashboard: its page, the sign-in check, and its live feed.

- ``GET /``: the page (a sign-in form; nothing in it is private).  The shared
  terms (escalation levels, ...) come embedded in it from
  :mod:`monitor.vocabulary`, with the hub's own ``live_within_s``, instead of
  being copied into the JavaScript.
- ``GET /api/me``: who the token belongs to (the page's sign-in check).
- ``WS /ws/dashboard`` (supervisors): a ``calls`` snapshot - the live calls and
  the most recent ``Hub.snapshot_ended`` ended flagged ones - then the newest
  state of each call that changed, coalesced (:mod:`monitor.hub.fanout`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse

from monitor import vocabulary
from monitor.hub.routes.deps import HubDep, SupervisorSocket, UserDep
from monitor.hub.store import LIVE_WITHIN_S

router = APIRouter()


@lru_cache(maxsize=1)
def page() -> str:
    """The dashboard page with the shared terms in it (read once)."""
    text = (resources.files("monitor.hub") / "static" / "dashboard.html").read_text(encoding="utf-8")
    return text.replace(vocabulary.PAGE_MARK, vocabulary.page_script({"live_within_s": LIVE_WITHIN_S}), 1)


@router.get("/", response_class=HTMLResponse)
async def dashboard_page() -> str:
    return page()


@router.get("/api/me")
async def me(user: UserDep) -> dict[str, str]:
    return {"name": user.name, "role": user.role}


@router.websocket("/ws/dashboard")
async def dashboard(ws: WebSocket, user: SupervisorSocket, hub: HubDep) -> None:
    feed = hub.fanout.add_feed()               # before the snapshot: no change falls between
    tasks: list[asyncio.Task] = []
    try:
        await ws.send_text(hub.fanout.snapshot(hub.snapshot_calls()))
        tasks = [asyncio.create_task(ws.receive_text()),              # the client leaving
                 asyncio.create_task(hub.fanout.serve(feed, ws.send_text))]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except (WebSocketDisconnect, RuntimeError, sqlite3.Error):
        pass
    finally:
        hub.fanout.remove_feed(feed)
        hub.sockets.discard(ws)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task              # collect the client's disconnect: no stray task errors
