"""Publishing: an operator's monitor streams its call into the hub.

- ``WS /ws/publish`` (operators only; at most ``sockets_per_user`` connections
  each, the next closed with 4429): text messages are events and flag clips,
  each checked, rate-limited, stored and answered once, in order
  (:mod:`monitor.hub.ingest`); binary messages are live audio for the call's
  listening supervisors.  A database error closes the socket with 1011 and the
  reason ("disk full"): nothing unstored is acked, so the publisher keeps it.
- ``GET /api/limits`` (supervisors): the publish limits, refusals per reason
  and user, and sockets closed because their token was revoked.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from monitor.hub.ingest import PublishSession
from monitor.hub.routes.deps import HubDep, OperatorSocket, SupervisorDep

ROUTE = "/ws/publish"

router = APIRouter()


@router.websocket(ROUTE)
async def publish(ws: WebSocket, user: OperatorSocket, hub: HubDep) -> None:
    if hub.sockets.count(user.name, ROUTE) > hub.limiter.limits.sockets_per_user:
        hub.sockets.discard(ws)
        hub.limiter.count("too_many_connections", user.name)
        await ws.close(code=4429, reason="too many publish connections for this user")
        return
    session = PublishSession(hub, ws, user)
    try:
        while True:
            msg = await ws.receive()
            if msg.get("type") == "websocket.disconnect":
                break
            if msg.get("bytes") is not None:
                pause = await session.relay_audio(msg["bytes"])
            else:
                pause = await session.handle_text(msg.get("text") or "")
            # a flooding publisher waits; every publisher yields after each message: a
            # backlog read without a pause would hold the loop (dashboards, timers) for seconds
            await asyncio.sleep(pause)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except sqlite3.Error as exc:
        with contextlib.suppress(Exception):
            await ws.close(code=1011, reason=close_reason(exc))
    finally:
        session.close()
        hub.sockets.discard(ws)


@router.get("/api/limits")
async def limits(user: SupervisorDep, hub: HubDep) -> dict[str, Any]:
    return hub.limiter.stats() | {"sockets_closed_on_revoke": hub.sockets.revoked_closed}


def close_reason(exc: BaseException) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8."""
    return f"{type(exc).__name__}: {exc}".encode("utf-8")[:120].decode("utf-8", "ignore")
