"""Operator screens served by ``calmline serve``: one per operator, all from one
server, at ``/operator/NAME/``, each with the local screen's protections.

Each operator's screen is the operator page of ``calmline live`` (the same app,
:func:`monitor.web.server.create_app`, behind the same
:class:`~monitor.web.guard.ScreenGuard`), mounted under its own path with its own
credential: a 256-bit session secret held as an ``HttpOnly; SameSite=Strict``
cookie that is named for the operator and sent only under their path, given to
a browser by a one-time link ``/operator/NAME/?launch=TOKEN``.  Host and Origin
must name the server (its loopback names, ``--host`` and the ``--public-url``'s
host); another operator's cookie opens nothing here.

How an operator gets their link (:class:`LinkDesk`): ``calmline serve`` prints
it once on stderr when the operator's screen is made (``--operator NAME`` at the
start, or their first call); with ``--links-dir DIR`` it is written instead to
``DIR/NAME.url`` (the folder 0700, the file 0600) and replaced by a fresh one
each time one is used, so an operator can sign in again from another browser.
The links are never logged anywhere else.

A screen shows its operator's newest call; events of an older call that is still
running do not reach it.  An acknowledgement goes to the call that showed the
prompt, while that call runs.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from monitor.events import Event
from monitor.web.access import LOOPBACK_NAMES, SECRET_BYTES, ScreenAccess
from monitor.web.broadcaster import Broadcaster
from monitor.web.guard import SECURITY_HEADERS, ScreenGuard
from monitor.web.server import create_app

OPERATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
PREFIX = "/operator/"
MAX_DESKS = 1000


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class OperatorAccess(ScreenAccess):
    """:class:`ScreenAccess` for one operator's screen under ``/operator/NAME/``."""

    def __init__(self, operator: str, names: Iterable[str], port: int, *, scheme: str = "http",
                 on_redeemed: Callable[["OperatorAccess"], None] | None = None) -> None:
        super().__init__("127.0.0.1", port)
        self.operator = operator
        self.path = f"{PREFIX}{operator}/"
        self.scheme = scheme
        self.cookie_name = f"calmline_{port}_{operator}"
        hosts = {f"{n}:{port}" for n in LOOPBACK_NAMES}
        for name in names:
            hosts.add(f"{_bracket(name.lower())}:{port}")
            if (scheme, port) in (("http", 80), ("https", 443)):
                hosts.add(_bracket(name.lower()))
        self.hosts = frozenset(hosts)
        self.origins = frozenset(f"{s}://{h}" for h in hosts for s in ("http", scheme))
        self._on_redeemed = on_redeemed

    def set_cookie_header(self) -> str:
        secure = "; Secure" if self.scheme == "https" else ""
        return (f"{self.cookie_name}={self._session}; Path={self.path}; HttpOnly; "
                f"SameSite=Strict{secure}")

    def redeem(self, token: str) -> bool:
        ok = super().redeem(token)
        if ok and self._on_redeemed is not None:
            self._on_redeemed(self)
        return ok

    def renew_launch(self) -> None:
        """A fresh one-time link (the previous one, used or not, stops working)."""
        with self._lock:
            self._launch = secrets.token_urlsafe(SECRET_BYTES)


class Desk:
    """One operator's screen: its credential, broadcaster and app, and the call it shows."""

    def __init__(self, name: str, access: OperatorAccess) -> None:
        self.name = name
        self.access = access
        self.broadcaster = Broadcaster()
        self.app = ScreenGuard(create_app(self.broadcaster, self._on_ack, access), access)
        self._lock = threading.Lock()
        self._current: Any = None           # the CallSession on screen
        self.acks_after_call = 0

    def attach(self, session: Any) -> Callable[[], None]:
        """Show this call (it becomes the newest); returns what detaches it."""
        with self._lock:
            self._current = session

        def sink(event: Event) -> None:
            if self._current is session:
                self.broadcaster(event)

        session.bus.subscribe(sink)

        def detach() -> None:
            with self._lock:
                if self._current is session:
                    self._current = None

        return detach

    def _on_ack(self, prompt_id: str, action: str) -> None:
        with self._lock:
            session = self._current
        if session is None:            # the call is over: nowhere to record it
            self.acks_after_call += 1
            return
        session.bus.emit("prompt_ack", session.audio_time(), "operator", prompt_id=prompt_id, action=action)


class LinkDesk:
    """Hands each operator their one-time sign-in link (see the module docstring)."""

    def __init__(self, base_url: str, say: Callable[[str], None], links_dir: Path | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.say = say
        self.links_dir = links_dir
        if links_dir is not None:
            links_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(links_dir, 0o700)

    def url(self, access: OperatorAccess) -> str:
        return access.launch_url(f"{self.base_url}{access.path}")

    def issue(self, access: OperatorAccess, *, renewed: bool = False) -> None:
        if self.links_dir is None:
            if not renewed:
                self.say(f"operator screen for {access.operator}: open {self.url(access)} "
                         "(this link signs one browser in, once)")
            return
        path = self.links_dir / f"{access.operator}.url"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(self.url(access) + "\n")
        os.replace(tmp, path)
        if not renewed:
            self.say(f"operator screen for {access.operator}: sign-in link in {path}")

    def redeemed(self, access: OperatorAccess) -> None:
        if self.links_dir is not None:
            access.renew_launch()
            self.issue(access, renewed=True)


class Desks:
    """Every operator's screen, and the ASGI app that serves ``/operator/NAME/...``."""

    def __init__(self, names: Iterable[str], port: int, links: LinkDesk, *, scheme: str = "http",
                 max_desks: int = MAX_DESKS) -> None:
        self.names = tuple(names)
        self.port = port
        self.scheme = scheme
        self.links = links
        self.max_desks = max_desks
        self._desks: dict[str, Desk] = {}
        self._lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.refused = 0

    def desk(self, name: str, *, create: bool = True) -> Desk | None:
        """The operator's screen (made on first use, with their sign-in link)."""
        if not OPERATOR_NAME.fullmatch(name):
            return None
        with self._lock:
            desk = self._desks.get(name)
            if desk is not None or not create:
                return desk
            if len(self._desks) >= self.max_desks:
                self.refused += 1
                return None
            access = OperatorAccess(name, self.names, self.port, scheme=self.scheme,
                                    on_redeemed=self.links.redeemed)
            desk = self._desks[name] = Desk(name, access)
            if self.loop is not None:
                desk.broadcaster.attach(self.loop)
        self.links.issue(access)
        return desk

    def attach(self, operator: str, session: Any) -> Callable[[], None] | None:
        desk = self.desk(operator)
        return desk.attach(session) if desk is not None else None

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server's event loop is running: pages are pushed from it."""
        with self._lock:
            self.loop = loop
            for desk in self._desks.values():
                desk.broadcaster.attach(loop)

    # --- ASGI ---------------------------------------------------------------------------
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        path: str = scope.get("path", "")
        name, _, rest = path[len(PREFIX):].partition("/")
        desk = self.desk(name, create=False) if path.startswith(PREFIX) else None
        if desk is None:
            await _refuse(scope, send, 404, "no such operator screen")
            return
        if not _ and scope["type"] == "http":           # /operator/NAME -> /operator/NAME/
            query = scope.get("query_string", b"")
            location = (desk.access.path + ("?" + query.decode("latin-1") if query else "")).encode("latin-1")
            await _plain(send, 308, "", [(b"location", location)])
            return
        # the screen app sees the path under the operator's prefix, as the live screen
        # sees its own (the prefix is not a root_path: the guard matches plain paths)
        inner = dict(scope, path="/" + rest, raw_path=("/" + rest).encode("utf-8"))
        await desk.app(inner, receive, _relocate(send, desk.access.path))


def _relocate(send: Any, home: str) -> Any:
    """The guard sends a signed-in browser to ``/``: that is this operator's ``home``."""

    async def wrapped(message: dict[str, Any]) -> None:
        if message.get("type") == "http.response.start":
            headers = [(k, home.encode("latin-1") if k.lower() == b"location" and v == b"/" else v)
                       for k, v in message.get("headers", [])]
            message = dict(message, headers=headers)
        await send(message)

    return wrapped


async def _refuse(scope: dict[str, Any], send: Any, status: int, reason: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
    else:
        await _plain(send, status, f"calmline: {reason}\n")


async def _plain(send: Any, status: int, text: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode("utf-8")
    head = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status,
                "headers": head + (headers or []) + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})
