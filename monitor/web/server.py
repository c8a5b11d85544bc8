"""The operator page: FastAPI app, WebSocket push, and a uvicorn runner thread.

Every route sits behind :class:`~monitor.web.guard.ScreenGuard`: the Host must
name this server, the Origin (required on the WebSocket and on POST) must be
this server's, and the session cookie the one-time launch link set must come
with the request (see :mod:`monitor.web.access`).

Routes:

- ``GET /?launch=TOKEN`` swaps the one-time token for the session cookie and
  redirects to ``/``;
- ``GET /`` the page, with the shared terms (:func:`monitor.vocabulary.page_script`)
  in it; ``/static/...`` its CSS and JavaScript (shipped with the package,
  nothing fetched from the internet);
- ``WS /ws`` on connect a ``snapshot`` message, then one ``event`` message per
  event as it is emitted (no polling), all strict JSON.  The page sends back
  acknowledgements and display reports (:mod:`monitor.web.messages`), at most
  :data:`WS_RATE` a second on average (the rest dropped and counted);
- ``POST /api/ack`` the same acknowledgement without a WebSocket;
- ``GET /api/status`` the call snapshot and client counters;
- ``GET /api/latency`` emission-to-display latency the pages measured.

An acknowledgement must name a prompt of this call, and counts once.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from importlib import resources
from typing import Any, Callable, Literal

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from monitor import vocabulary
from monitor.errors import CalmlineError
from monitor.http_timeout import REQUEST_TIMEOUT_S, with_request_timeout
from monitor.web import messages
from monitor.web.access import ScreenAccess
from monitor.web.broadcaster import Broadcaster
from monitor.web.guard import ScreenGuard
from monitor.web.limits import RateLimit

Ack = Callable[[str, str], None]
ACTIONS = messages.ACTIONS
WS_RATE, WS_BURST = 100.0, 200.0       # page messages a second: ~1 report per shown event
WS_MAX_SIZE = 16 * 1024                # bytes of one WebSocket message (the page's are ~200)


class AckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prompt_id: str = Field(min_length=1, max_length=messages.MAX_ID)
    action: Literal["used", "dismissed"]


def static_dir() -> str:
    return str(resources.files("monitor.web") / "static")


def create_app(broadcaster: Broadcaster, on_ack: Ack, access: ScreenAccess) -> ScreenGuard:
    """The operator screen's ASGI app, every route behind ``access``."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        broadcaster.attach(asyncio.get_running_loop())
        yield

    app = FastAPI(title="calmline operator screen", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    refused_messages = {"count": 0}

    def acknowledge(prompt_id: str, action: str) -> str:
        verdict = broadcaster.claim_ack(prompt_id)
        if verdict == "ok":
            on_ack(prompt_id, action)
        return verdict

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        page = (resources.files("monitor.web") / "static" / "index.html").read_text(encoding="utf-8")
        return page.replace(vocabulary.PAGE_MARK, vocabulary.page_script(), 1)   # the shared terms

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        snap = broadcaster.snapshot()
        snap["clients"] = len(broadcaster.clients)
        snap["dropped"] = sum(c.dropped for c in broadcaster.clients)
        snap["events_sent"] = broadcaster.events_sent
        snap["nonfinite_values"] = broadcaster.nonfinite
        snap["refused"] = {"requests": dict(access.refused), "page_messages": refused_messages["count"],
                           "clients": broadcaster.refused_clients}
        return snap

    @app.get("/api/latency")
    async def latency(type: str | None = None) -> dict[str, Any]:
        return broadcaster.latency_report(type)

    @app.post("/api/ack")
    async def ack(body: AckBody) -> dict[str, str]:
        verdict = acknowledge(body.prompt_id, body.action)
        if verdict == "unknown":
            raise HTTPException(404, "no such prompt in this call")
        return {"ok": "acknowledged" if verdict == "ok" else "already acknowledged"}

    @app.websocket("/ws")
    async def ws(socket_: WebSocket) -> None:
        client = broadcaster.add_client()
        if client is None:
            await socket_.close(code=1013)          # too many pages open: try again later
            return
        await socket_.accept()
        sender = asyncio.create_task(_send(socket_, client, broadcaster))
        limit = RateLimit(WS_RATE, WS_BURST)
        try:
            while True:
                text = await socket_.receive_text()
                msg = messages.parse(text) if limit.allow() else None
                if msg is None:
                    refused_messages["count"] += 1
                elif msg.get("kind") == "ack":
                    fields = messages.ack(msg)
                    if fields is None or acknowledge(*fields) == "unknown":
                        refused_messages["count"] += 1
                elif (sample := messages.displayed(msg)) is not None:
                    broadcaster.record_latency(sample)
                else:
                    refused_messages["count"] += 1
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            sender.cancel()
            broadcaster.remove_client(client)

    return ScreenGuard(app, access)


async def _send(socket_: WebSocket, client: Any, broadcaster: Broadcaster) -> None:
    with contextlib.suppress(Exception):
        await _send_one(socket_, broadcaster.snapshot(), client)
        while True:
            await client.ready.wait()
            client.ready.clear()
            while client.queue:
                message = client.queue.popleft()
                await _send_one(socket_, dict(message, sent_ms=time.time() * 1000.0), client)


async def _send_one(socket_: WebSocket, message: dict[str, Any], client: Any) -> None:
    try:
        text = messages.encode(message)
    except ValueError:          # cannot happen for the broadcaster's finite copies; never send it
        client.dropped += 1
        return
    await socket_.send_text(text)


class WebServer:
    """Runs the app with uvicorn on a background thread.  A request must arrive whole
    within ``request_timeout_s`` (a half-sent one is answered 408 and closed)."""

    def __init__(self, app: Any, host: str, port: int, ws_max_size: int | None = None,
                 request_timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        import uvicorn

        self.host, self.port = host, port
        _check_port(host, port)
        # no access log: a request line can carry the screen's one-time launch token
        extra = {"ws_max_size": ws_max_size} if ws_max_size else {}
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                http=with_request_timeout(request_timeout_s), ws="websockets-sansio",
                                access_log=False, **extra)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise CalmlineError(f"the web server could not start on {self.host}:{self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


def _check_port(host: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise CalmlineError(f"--port {port}: must be between 1 and 65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise CalmlineError(f"cannot listen on {host}:{port}: {exc.strerror} "
                                f"(is another calmline running? choose another --port)") from None
