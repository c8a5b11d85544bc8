"""The ``calmline serve`` server: the phone systems' streams and the operators'
screens on one port, AudioSocket on another, all on one event loop.

Routes (``/operator/...`` is :class:`monitor.web.desks.Desks`, everything else
the ingest app):

- ``WS /ingest/twilio`` Twilio Media Streams (:mod:`monitor.ingest.twilio`);
- ``WS /ingest/audiohook`` Genesys AudioHook (:mod:`monitor.ingest.audiohook`);
- ``POST /ingest/audiosocket/calls`` ``{"call": UUID, "operator": NAME}``: whose
  screen an AudioSocket call goes to, announced before its streams connect (only
  from ``--audiosocket-peer`` addresses);
- ``GET|WS /operator/NAME/...`` that operator's screen.

An ingest WebSocket handshake that carries an ``Origin`` header comes from a web
browser, never from a phone system: it is refused (403), so no web page can feed
a call into a server on the operator's own machine.  The phone systems' own
credentials are checked by their handlers (Twilio's signature, AudioHook's API
key); the CLI refuses a non-loopback ``--host`` with neither configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse

from monitor.errors import CalmlineError
from monitor.http_timeout import REQUEST_TIMEOUT_S, with_request_timeout
from monitor.hub.tls import ServerTLS
from monitor.ingest.audiohook import audiohook_endpoint
from monitor.ingest.audiosocket import AudioSocketServer
from monitor.ingest.calls import CALL_ID, Switchboard
from monitor.ingest.streams import MAX_TEXT, deny
from monitor.ingest.twilio import twilio_endpoint
from monitor.web.desks import OPERATOR_NAME, PREFIX, Desks

WS_MAX_SIZE = MAX_TEXT            # bytes of one WebSocket message (AudioHook's limit)
HEAD_MAX = 16 * 1024
ANNOUNCE_MAX = 1024               # bytes of an announcement


@dataclass(frozen=True)
class IngestKeys:
    """The phone systems' credentials (None: not checked; loopback only)."""

    twilio_auth_token: str | None = None
    audiohook_api_key: str | None = None


def create_ingest_app(switchboard: Switchboard, keys: IngestKeys, public_url: str,
                      audiosocket: AudioSocketServer | None = None) -> FastAPI:
    app = FastAPI(title="calmline serve", docs_url=None, redoc_url=None, openapi_url=None)
    public = urlsplit(public_url)
    ws_scheme = "wss" if public.scheme == "https" else "ws"

    def twilio_urls(ws: WebSocket) -> list[str]:
        """The URL Twilio may have signed: as in the TwiML (``--public-url``), or as the
        request names its host; written ``wss://`` or as its ``https://`` twin."""
        path = ws.url.path + (f"?{ws.url.query}" if ws.url.query else "")
        hosts = [public.netloc, ws.headers.get("host", "")]
        urls = [f"{scheme}://{host}{path}" for host in hosts for scheme in (ws_scheme, "wss", "https")]
        return list(dict.fromkeys(urls))

    @app.websocket("/ingest/twilio")
    async def twilio(ws: WebSocket) -> None:
        if ws.headers.get("origin") is not None:
            await deny(ws, 403, "ingest is for phone systems, not web pages")
            return
        await twilio_endpoint(ws, switchboard, keys.twilio_auth_token, twilio_urls(ws))

    @app.websocket("/ingest/audiohook")
    async def audiohook(ws: WebSocket) -> None:
        if ws.headers.get("origin") is not None:
            await deny(ws, 403, "ingest is for phone systems, not web pages")
            return
        await audiohook_endpoint(ws, switchboard, keys.audiohook_api_key)

    @app.post("/ingest/audiosocket/calls")
    async def announce(request: Request) -> JSONResponse:
        if audiosocket is None:
            return JSONResponse({"error": "AudioSocket is not enabled (--audiosocket-port)"}, 404)
        peer = request.client.host if request.client else ""
        if request.headers.get("origin") is not None or not audiosocket.allows(peer):
            return JSONResponse({"error": "not an allowed AudioSocket peer"}, 403)
        body = await _small_body(request)
        try:
            data = json.loads(body)
            call, operator = data["call"], data["operator"]
            ok = (isinstance(call, str) and CALL_ID.fullmatch(call) and isinstance(operator, str)
                  and OPERATOR_NAME.fullmatch(operator))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            return JSONResponse({"error": "send {\"call\": UUID, \"operator\": NAME}"}, 400)
        audiosocket.announcements.announce(call.lower()[:-1] + "0", operator)
        return JSONResponse({"ok": True})

    return app


async def _small_body(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > ANNOUNCE_MAX:
        return b""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > ANNOUNCE_MAX:
            return b""
    return body


class ServeApp:
    """The outermost ASGI app: screens under ``/operator/``, the rest to ingest; its
    lifespan hands the event loop to the screens and starts AudioSocket."""

    def __init__(self, ingest: FastAPI, desks: Desks, audiosocket: AudioSocketServer | None = None,
                 audiosocket_sock: socket.socket | None = None) -> None:
        self.ingest, self.desks = ingest, desks
        self.audiosocket, self.audiosocket_sock = audiosocket, audiosocket_sock

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope.get("path", "").startswith(PREFIX.rstrip("/")):
            await self.desks(scope, receive, send)
        else:
            await self.ingest(scope, receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.desks.start(asyncio.get_running_loop())
                if self.audiosocket is not None and self.audiosocket_sock is not None:
                    await self.audiosocket.start(sock=self.audiosocket_sock)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.audiosocket is not None:
                    with contextlib.suppress(Exception):
                        await self.audiosocket.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def listen(host: str, port: int, what: str = "--port") -> socket.socket:
    """A bound, listening TCP socket (port 0: any free port); one line when it cannot be."""
    if not 0 <= port <= 65535:
        raise CalmlineError(f"{what} {port}: must be between 1 and 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise CalmlineError(f"cannot listen on {host}:{port} ({what}): {exc.strerror or exc} "
                            "(is another calmline serve running? choose another port)") from None
    sock.setblocking(False)
    return sock


class ServeServer:
    """Runs the app with uvicorn on a background thread (the CLI, tests, benchmarks)."""

    def __init__(self, app: ServeApp, sock: socket.socket, *, tls: ServerTLS | None = None,
                 request_timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        options: dict[str, Any] = {}
        if tls is not None:
            context = tls.context()
            options["ssl_context_factory"] = lambda _config, _default: context
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False,
                                http=with_request_timeout(request_timeout_s), ws="websockets-sansio",
                                ws_max_size=WS_MAX_SIZE, h11_max_incomplete_event_size=HEAD_MAX,
                                timeout_keep_alive=5, **options)
        self.sock = sock
        self.port = sock.getsockname()[1]
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="serve", daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise CalmlineError("the server could not start (see the message above)")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()
