"""The supervisor hub: FastAPI app over the hub store.

Every API and WebSocket route needs ``Authorization: Bearer TOKEN`` (browsers,
which cannot set headers on a WebSocket, may send the token as the subprotocol
pair ``bearer, TOKEN``).  401 without a valid token, 403 for the wrong role;
operators publish and read only their own calls, supervisors read all.

- ``WS /ws/publish``: an operator's monitor streams its call's events (acked by
  seq; duplicates ignored), flag clips, and live audio while a supervisor listens;
- ``WS /ws/dashboard``: supervisors get a ``calls`` snapshot, then the newest
  state of each call that changed, coalesced (:mod:`monitor.hub.fanout`);
- ``WS /ws/listen/{call_id}``: a supervisor listens to a live call (audited);
- ``GET /api/calls`` (at most ``limit``, default 1000; ``truncated`` says when
  there were more), ``/api/calls/{id}`` (one page of events: ``after_seq``,
  ``limit``), ``/api/calls/{id}/report``, ``/api/clips/{id}/audio`` (audited),
  ``/api/audit``, ``/api/me``, ``/api/limits`` (publish limits and refusals).

Only operators publish, and only into their own calls; every message is checked
(:mod:`monitor.hub.validate`), rate-limited per user (:mod:`monitor.hub.limits`)
and answered (:mod:`monitor.hub.ingest`).  JSON in and out is strict: no NaN or
Infinity (:mod:`monitor.hub.wire`).  Revoking a token closes its open sockets
within a second (:mod:`monitor.hub.sockets`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import sqlite3
import time
import wave
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from monitor.hub.auth import User, authenticate
from monitor.hub.fanout import Fanout
from monitor.hub.ingest import PublishSession
from monitor.hub.limits import Limiter
from monitor.hub.reads import PAGE_DEFAULT, PAGE_MAX, call_detail, render_call_report
from monitor.hub.sockets import Sockets
from monitor.hub.store import Store
from monitor.hub.validate import CALL_ID, INT64_MAX
from monitor.hub.wire import send_json

LISTEN_MESSAGE_PAUSE_S = 0.01          # messages from a listening supervisor are read 100 a second at most
CALLS_DEFAULT, CALLS_MAX = 1000, 5000  # calls in one GET /api/calls


def _bearer(value: str | None) -> str | None:
    if value and value.lower().startswith("bearer "):
        return value[7:].strip()
    return None


def _ws_token(ws: WebSocket) -> tuple[str | None, str | None]:
    token = _bearer(ws.headers.get("authorization"))
    if token:
        return token, None
    protocols = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    if len(protocols) == 2 and protocols[0] == "bearer":
        return protocols[1], "bearer"
    return None, None


class Hub:
    """Live state shared by the routes: publishers, listeners, dashboard clients."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.publishers: dict[str, WebSocket] = {}          # call id -> publisher socket
        self.listeners: dict[str, set[WebSocket]] = {}      # call id -> listening supervisors
        # dashboards: newest state per changed call, one database read per flush
        self.fanout = Fanout(lambda ids: store.calls(all_calls=True, ids=ids))
        self.limiter = Limiter()                            # publish rate and size limits, refusals
        self.sockets = Sockets(store)                       # open sockets, closed when revoked

    def ingested(self, call_id: str) -> None:
        self.fanout.changed(call_id)

    async def set_listening(self, call_id: str, by: str) -> None:
        socket_ = self.publishers.get(call_id)
        on = bool(self.listeners.get(call_id))
        if socket_ is not None:
            with contextlib.suppress(Exception):
                await send_json(socket_, {"kind": "listen", "call_id": call_id, "on": on, "by": by})


def create_hub_app(store: Store) -> FastAPI:
    hub = Hub(store)
    app = FastAPI(title="calmline hub", docs_url=None, redoc_url=None)
    app.state.hub = hub
    static = resources.files("monitor.hub") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    def user_from(request: Request) -> User:
        user = authenticate(store, _bearer(request.headers.get("authorization")))
        if user is None:
            raise HTTPException(401, "a valid bearer token is required",
                                headers={"WWW-Authenticate": "Bearer"})
        return user

    def supervisor(user: User = Depends(user_from)) -> User:
        if user.role != "supervisor":
            raise HTTPException(403, "supervisors only")
        return user

    def readable_call(call_id: str, user: User) -> dict[str, Any]:
        call = store.call(call_id) if CALL_ID.fullmatch(call_id) else None
        if call is None:
            raise HTTPException(404, "no such call")
        if user.role != "supervisor" and call["operator"] != user.name:
            raise HTTPException(403, "operators can read only their own calls")
        return call

    @app.get("/", response_class=HTMLResponse)
    async def dashboard_page() -> str:
        return (static / "dashboard.html").read_text(encoding="utf-8")

    @app.get("/api/me")
    async def me(user: User = Depends(user_from)) -> dict[str, str]:
        return {"name": user.name, "role": user.role}

    @app.get("/api/calls")
    async def calls(user: User = Depends(user_from), state: str | None = None,
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

    @app.get("/api/calls/{call_id}")
    def call(call_id: str, user: User = Depends(user_from),
             after_seq: int = Query(-1, ge=-1, le=INT64_MAX),
             limit: int = Query(PAGE_DEFAULT, ge=1, le=PAGE_MAX)) -> dict[str, Any]:
        # plain def: reading and parsing a page of events runs in the threadpool
        return call_detail(store, readable_call(call_id, user), after_seq, limit)

    @app.get("/api/calls/{call_id}/report", response_class=HTMLResponse)
    def report(call_id: str, user: User = Depends(user_from)) -> HTMLResponse:
        # plain def: rendering is CPU work, so it runs in the threadpool
        readable_call(call_id, user)
        return HTMLResponse(render_call_report(store, call_id), headers={
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    @app.get("/api/clips/{clip_id}/audio")
    async def clip_audio(clip_id: int = Path(ge=1, le=INT64_MAX), user: User = Depends(supervisor)) -> Response:
        row = store.clip_audio(clip_id)
        if row is None:
            raise HTTPException(404, "no such clip")
        seconds = row["t_end"] - row["t_start"]
        store.audit(user.name, "listen_clip", row["call_id"], f"clip {clip_id} ({row['reason']})", seconds)
        return Response(_wav(row["audio"], row["sample_rate"]), media_type="audio/wav")

    @app.get("/api/audit")
    async def audit(user: User = Depends(supervisor), limit: int = Query(500, ge=1, le=10000)) -> dict[str, Any]:
        return {"audit": store.audit_log(limit)}

    @app.get("/api/limits")
    async def limits(user: User = Depends(supervisor)) -> dict[str, Any]:
        return hub.limiter.stats() | {"sockets_closed_on_revoke": hub.sockets.revoked_closed}

    async def accept(ws: WebSocket, role: str | None = None) -> User | None:
        token, subprotocol = _ws_token(ws)
        user = authenticate(store, token)
        if user is None:
            await ws.close(code=4401, reason="a valid bearer token is required")
            return None
        if role is not None and user.role != role:
            await ws.close(code=4403, reason=f"{role}s only")
            return None
        await ws.accept(subprotocol=subprotocol)
        hub.sockets.add(ws, token, user, ws.scope.get("path", ""))     # closed if the token is revoked
        return user

    @app.websocket("/ws/publish")
    async def publish(ws: WebSocket) -> None:
        user = await accept(ws, "operator")                  # supervisors do not write calls
        if user is None:
            return
        if hub.sockets.count(user.name, "/ws/publish") > hub.limiter.limits.sockets_per_user:
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
                await ws.close(code=1011, reason=_close_reason(exc))
        finally:
            session.close()
            hub.sockets.discard(ws)

    @app.websocket("/ws/dashboard")
    async def dashboard(ws: WebSocket) -> None:
        user = await accept(ws, "supervisor")
        if user is None:
            return
        feed = hub.fanout.add_feed()               # before the snapshot: no change falls between
        tasks: list[asyncio.Task] = []
        try:
            await ws.send_text(hub.fanout.snapshot(store.calls()))
            tasks = [asyncio.create_task(ws.receive_text()),              # the client leaving
                     asyncio.create_task(hub.fanout.serve(feed, ws.send_text))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except (WebSocketDisconnect, RuntimeError, sqlite3.Error):
            pass
        finally:
            hub.fanout.remove_feed(feed)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task              # collect the client's disconnect: no stray task errors

    @app.websocket("/ws/listen/{call_id}")
    async def listen(ws: WebSocket, call_id: str) -> None:
        user = await accept(ws, "supervisor")
        if user is None:
            return
        if not CALL_ID.fullmatch(call_id) or store.call(call_id) is None:
            hub.sockets.discard(ws)
            await ws.close(code=4404, reason="no such call")
            return
        started = time.time()
        # written when listening starts, so a crash cannot hide a listen; the
        # duration is filled in when it ends
        entry = store.audit(user.name, "listen_live", call_id, "live call audio")
        hub.listeners.setdefault(call_id, set()).add(ws)
        await hub.set_listening(call_id, user.name)
        try:
            while True:
                msg = await ws.receive()
                if msg.get("type") == "websocket.disconnect":
                    break
                await asyncio.sleep(LISTEN_MESSAGE_PAUSE_S)   # a listener has nothing to say
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.listeners.get(call_id, set()).discard(ws)
            hub.sockets.discard(ws)
            await hub.set_listening(call_id, user.name)
            store.finish_audit(entry, round(time.time() - started, 2))

    return app


def _close_reason(exc: BaseException) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8."""
    return f"{type(exc).__name__}: {exc}".encode("utf-8")[:120].decode("utf-8", "ignore")


def _wav(pcm: bytes, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()
