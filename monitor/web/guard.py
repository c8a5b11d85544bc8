"""The operator screen's gate: an ASGI middleware in front of every route.

It applies :class:`~monitor.web.access.ScreenAccess` to each HTTP request and
WebSocket handshake before the app sees it, swaps the one-time launch link for
the session cookie, bounds request bodies and the rate of API calls, and adds
headers that keep the page out of other sites' frames, caches and referrers.
A refused WebSocket is closed before it is accepted (the browser sees HTTP 403).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from monitor.web.access import UNSAFE_METHODS, Refusal, ScreenAccess
from monitor.web.limits import RateLimit

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MAX_BODY = 4096                 # an acknowledgement is ~100 bytes
API_RATE, API_BURST = 20.0, 40.0
SINGLE_HEADERS = (b"host", b"origin", b"cookie", b"content-length")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"content-security-policy", CSP.encode()),
]


class ScreenGuard:
    def __init__(self, app: Callable[..., Awaitable[None]], access: ScreenAccess,
                 api_limit: RateLimit | None = None) -> None:
        self.app, self.access = app, access
        self.api_limit = api_limit or RateLimit(API_RATE, API_BURST)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw = scope.get("headers") or []
        headers: dict[str, str] = {}
        try:
            for name, value in raw:
                key = name.lower()
                if key in SINGLE_HEADERS and key.decode("latin-1") in headers:
                    raise Refusal(400, f"repeated {key.decode('latin-1')} header")
                headers.setdefault(key.decode("latin-1"), value.decode("latin-1"))
            await self._admit(kind, scope, headers, send)
        except Refusal as no:
            self.access.count(no.reason)
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await _respond(send, no.status, f"calmline operator screen: {no.reason}\n")
            return
        except _Handled:
            return
        if kind == "websocket":
            await self.app(scope, receive, send)
        else:
            await self.app(scope, _bounded(receive), _with_headers(send))

    async def _admit(self, kind: str, scope: Scope, headers: dict[str, str], send: Send) -> None:
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        token = self.access.launch_token(scope.get("query_string", b"")) if kind == "http" else None
        if token is not None and path == "/" and method == "GET":
            self.access.check_site(kind, method, headers)
            redeemed = self.access.redeem(token)
            if not redeemed and not self.access.signed_in(headers):
                raise Refusal(401, "this link has already been used; restart calmline for a new one")
            extra = [(b"set-cookie", self.access.set_cookie_header().encode())] if redeemed else []
            await _respond(send, 303, "", [(b"location", b"/")] + extra)
            raise _Handled
        self.access.check(kind, method, headers)
        if kind == "http" and path.startswith("/api/") and not self.api_limit.allow():
            raise Refusal(429, "too many requests")
        if kind == "http" and method.upper() in UNSAFE_METHODS:
            length = headers.get("content-length")
            if length is None or not length.isdigit():
                raise Refusal(411, "a request body needs a Content-Length")
            if int(length) > MAX_BODY:
                raise Refusal(413, f"request body over {MAX_BODY} bytes")


class _Handled(Exception):
    """The guard answered the request itself."""


def _bounded(receive: Receive) -> Receive:
    seen = 0

    async def wrapped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                return {"type": "http.disconnect"}
        return message

    return wrapped


def _with_headers(send: Send) -> Send:
    async def wrapped(message: dict[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            names = {name.lower() for name, _ in message.get("headers", [])}
            extra = [h for h in SECURITY_HEADERS if h[0] not in names]
            message = dict(message, headers=list(message.get("headers", [])) + extra)
        await send(message)

    return wrapped


async def _respond(send: Send, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode("utf-8")
    head = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status,
                "headers": head + (headers or []) + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})
