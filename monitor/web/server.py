"""The operator page: FastAPI app, WebSocket push, and a uvicorn runner thread.

Routes:

- ``GET /`` the page; ``/static/...`` its CSS and JavaScript (shipped with the
  package, nothing fetched from the internet);
- ``WS /ws`` on connect a ``snapshot`` message, then one ``event`` message per
  event as it is emitted (no polling).  The page sends back
  ``{"kind": "ack", "prompt_id": ..., "action": "used"|"dismissed"}`` and
  ``{"kind": "displayed", "seq": ..., "type": ..., "emitted_ms": ...,
  "received_ms": ..., "displayed_ms": ...}``;
- ``POST /api/ack`` the same acknowledgement without a WebSocket;
- ``GET /api/status`` the call snapshot and client counters;
- ``GET /api/latency`` emission-to-display latency the pages measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from importlib import resources
from typing import Any, Callable

from fastapi import FastAPI, HTTPException, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from monitor.errors import CalmlineError
from monitor.web.broadcaster import Broadcaster

Ack = Callable[[str, str], None]
ACTIONS = ("used", "dismissed")


class AckBody(BaseModel):
    prompt_id: str
    action: str


def static_dir() -> str:
    return str(resources.files("monitor.web") / "static")


def create_app(broadcaster: Broadcaster, on_ack: Ack) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        broadcaster.attach(asyncio.get_running_loop())
        yield

    app = FastAPI(title="calmline operator screen", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return (resources.files("monitor.web") / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/api/status")
    async def status() -> dict[str, Any]:
        snap = broadcaster.snapshot()
        snap["clients"] = len(broadcaster.clients)
        snap["dropped"] = sum(c.dropped for c in broadcaster.clients)
        snap["events_sent"] = broadcaster.events_sent
        return snap

    @app.get("/api/latency")
    async def latency(type: str | None = None) -> dict[str, Any]:
        return broadcaster.latency_report(type)

    @app.post("/api/ack")
    async def ack(body: AckBody) -> dict[str, str]:
        if body.action not in ACTIONS:
            raise HTTPException(422, f"action must be one of {', '.join(ACTIONS)}")
        on_ack(body.prompt_id, body.action)
        return {"ok": "acknowledged"}

    @app.websocket("/ws")
    async def ws(socket_: WebSocket) -> None:
        await socket_.accept()
        client = broadcaster.add_client()
        sender = asyncio.create_task(_send(socket_, client, broadcaster))
        try:
            while True:
                msg = await socket_.receive_json()
                if not isinstance(msg, dict):
                    continue
                if msg.get("kind") == "ack" and msg.get("action") in ACTIONS and msg.get("prompt_id"):
                    on_ack(str(msg["prompt_id"]), msg["action"])
                elif msg.get("kind") == "displayed":
                    broadcaster.record_latency(msg)
        except (WebSocketDisconnect, RuntimeError, ValueError):
            pass
        finally:
            sender.cancel()
            broadcaster.remove_client(client)

    return app


async def _send(socket_: WebSocket, client: Any, broadcaster: Broadcaster) -> None:
    with contextlib.suppress(Exception):
        await socket_.send_json(broadcaster.snapshot())
        while True:
            await client.ready.wait()
            client.ready.clear()
            while client.queue:
                message = client.queue.popleft()
                message = dict(message, sent_ms=time.time() * 1000.0)
                await socket_.send_json(message)


class WebServer:
    """Runs the app with uvicorn on a background thread."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        import uvicorn

        self.host, self.port = host, port
        _check_port(host, port)
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                                ws="websockets-sansio")
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
