"""Serving the hub: one uvicorn configuration for the command and the tests.

- each HTTP request must arrive complete within :data:`REQUEST_TIMEOUT_S`
  (:mod:`monitor.http_timeout`): a half-sent request is answered 408 and closed;
- request heads are bounded by h11 (16 KiB) and WebSocket messages by
  :data:`WS_MAX_SIZE`; idle kept-alive connections close after 5 s;
- TLS when :class:`~monitor.hub.tls.ServerTLS` is given.

``HubServer`` runs it on a thread (tests, benchmarks); ``calmline hub`` runs it
in the foreground with :func:`run`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import uvicorn

from monitor.errors import CalmlineError
from monitor.http_timeout import REQUEST_TIMEOUT_S, with_request_timeout
from monitor.hub.tls import ServerTLS

WS_MAX_SIZE = 16 * 1024 * 1024        # a flag clip (~1 MB of base64 audio) fits many times over
HEAD_MAX = 16 * 1024                  # bytes of request line + headers


def config(app: Any, host: str, port: int, *, tls: ServerTLS | None = None,
           request_timeout_s: float = REQUEST_TIMEOUT_S, log_level: str = "warning") -> uvicorn.Config:
    options: dict[str, Any] = {}
    if tls is not None:
        context = tls.context()
        options["ssl_context_factory"] = lambda _config, _default: context
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                          http=with_request_timeout(request_timeout_s), ws="websockets-sansio",
                          ws_max_size=WS_MAX_SIZE, h11_max_incomplete_event_size=HEAD_MAX,
                          timeout_keep_alive=5, **options)


def check_port(host: str, port: int) -> None:
    """One line, not a traceback, when the address cannot be used."""
    if not 1 <= port <= 65535:
        raise CalmlineError(f"--port {port}: must be between 1 and 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            raise CalmlineError(f"cannot listen on {host}:{port}: {exc.strerror or exc} "
                                "(is another hub running? choose another --port)") from None


def run(app: Any, host: str, port: int, *, tls: ServerTLS | None = None) -> None:
    """Serve in the foreground until Ctrl-C."""
    uvicorn.Server(config(app, host, port, tls=tls)).run()


class HubServer:
    """The hub on a background thread."""

    def __init__(self, app: Any, host: str, port: int, *, tls: ServerTLS | None = None,
                 request_timeout_s: float = REQUEST_TIMEOUT_S) -> None:
        self.host, self.port, self.tls = host, port, tls
        self._server = uvicorn.Server(config(app, host, port, tls=tls, request_timeout_s=request_timeout_s))
        self._thread = threading.Thread(target=self._server.run, name="hub", daemon=True)

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise CalmlineError(f"the hub could not start on {self.host}:{self.port}")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
