"""An HTTP/1.1 server protocol that does not wait forever for a request.

uvicorn's h11 protocol arms a timer only *between* requests on a kept-alive
connection, and drops it as soon as any byte arrives: a client that sends half a
request line and stops holds a connection (and a file descriptor) for ever, and
a few hundred of them starve the server.  This protocol gives every request --
the first one on a connection and each later one -- ``timeout_s`` to arrive
complete (request line, headers and body); past that the server answers 408
when nothing has been answered yet, and closes the connection.  A WebSocket
upgrade hands the connection over once its handshake request is in, so an open
WebSocket is not affected (its pings deal with dead peers).

Used by the hub (:mod:`monitor.hub.serve`); any uvicorn server can take it as
``uvicorn.Config(http=with_request_timeout(5.0))``.
"""

from __future__ import annotations

import asyncio

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT_S = 5.0

_REQUEST_DONE = (h11.DONE, h11.MIGHT_SWITCH_PROTOCOL, h11.SWITCHED_PROTOCOL, h11.MUST_CLOSE,
                 h11.CLOSED, h11.ERROR)
_408 = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"connection: close\r\ncontent-length: 36\r\n\r\nthe request did not arrive in time.\n")


class TimedH11Protocol(H11Protocol):
    """:class:`H11Protocol` with a deadline for each request to arrive."""

    request_timeout_s = REQUEST_TIMEOUT_S
    timed_out = 0                     # connections closed for a slow request (all servers)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._request_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.transport.get_protocol() is not self or self.conn.their_state in _REQUEST_DONE:
            self._disarm()            # the request is in (or the connection became a WebSocket)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state not in _REQUEST_DONE:
            self._arm()               # kept alive: the next request has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._request_timer = self.loop.call_later(self.request_timeout_s, self._timed_out)

    def _disarm(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _timed_out(self) -> None:
        self._request_timer = None
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            return
        TimedH11Protocol.timed_out += 1
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(_408)        # nothing answered on this request yet
        self.transport.close()


def with_request_timeout(seconds: float) -> type[TimedH11Protocol]:
    """The protocol class with its own deadline (for ``uvicorn.Config(http=...)``)."""
    if not 0 < seconds <= 300:
        raise ValueError("the request timeout must be between 0 and 300 seconds")
    return type("TimedH11Protocol", (TimedH11Protocol,), {"request_timeout_s": float(seconds)})
