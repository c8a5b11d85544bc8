"""Who may use the operator screen: a per-session secret, the Host and the Origin.

The screen shows a live call's transcript and the operator's private cues, and
accepts acknowledgements that go on record as the operator's.  Any web page the
operator has open can reach ``127.0.0.1``, so the server trusts nothing about a
request but what a hostile page cannot forge:

- **a session secret** (256 bits from :mod:`secrets`) that the browser holds as an
  ``HttpOnly; SameSite=Strict`` cookie named for this port; every route needs it;
- the browser gets the cookie through **a one-time launch link**
  (``/?launch=TOKEN``, a second 256-bit secret) that the CLI opens or prints: the
  server swaps the token for the cookie and redirects to ``/``, so the token leaves
  the address bar at once and a second use is refused;
- **the Host header** must name this server (``127.0.0.1``, ``localhost``,
  ``[::1]`` or the configured address, with this port): a DNS-rebinding page
  carries its own name there;
- **the Origin header** must be this server's on the WebSocket and on every
  state-changing request (required there), and on any other request that has one;
- **Sec-Fetch-Site**, when the browser sends it, must be ``same-origin`` or
  ``none``: another port on ``127.0.0.1`` is *same-site* (its requests carry the
  SameSite cookie), so that is refused too.

Neither secret is ever logged (the web server runs without an access log); the
launch link is printed only where the CLI must hand it to the operator.
"""

from __future__ import annotations

import secrets
import threading
from typing import Mapping
from urllib.parse import parse_qs

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("", "0.0.0.0", "::", "[::]")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SAFE_FETCH_SITES = frozenset({"same-origin", "none"})
SECRET_BYTES = 32          # 256 bits
LAUNCH_PARAM = "launch"


class Refusal(Exception):
    """Why a request is refused: an HTTP status and a short reason (never a secret)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class ScreenAccess:
    """The operator screen's credentials and the checks every request goes through."""

    def __init__(self, host: str, port: int) -> None:
        self.port = port
        self.cookie_name = f"calmline_screen_{port}"
        self._session = secrets.token_urlsafe(SECRET_BYTES)
        self._launch: str | None = secrets.token_urlsafe(SECRET_BYTES)
        self._lock = threading.Lock()
        names = list(LOOPBACK_NAMES)
        if host.lower() not in WILDCARDS and _bracket(host.lower()) not in names:
            names.append(_bracket(host.lower()))
        hosts = {f"{name}:{port}" for name in names}
        if port == 80:
            hosts.update(names)
        self.hosts = frozenset(hosts)
        self.origins = frozenset(f"http://{h}" for h in hosts)
        self.refused: dict[str, int] = {}

    # --- the launch link and the cookie -------------------------------------------
    def launch_url(self, base_url: str) -> str:
        """The one-time link that signs a browser in (``base_url`` ends with ``/``)."""
        with self._lock:
            if self._launch is None:
                raise RuntimeError("the launch link has already been used")
            return f"{base_url}?{LAUNCH_PARAM}={self._launch}"

    def redeem(self, token: str) -> bool:
        """Swap the launch token for the session cookie, once."""
        with self._lock:
            if self._launch is None or not _same(token, self._launch):
                return False
            self._launch = None
            return True

    def set_cookie_header(self) -> str:
        return f"{self.cookie_name}={self._session}; Path=/; HttpOnly; SameSite=Strict"

    def signed_in(self, headers: Mapping[str, str]) -> bool:
        return any(_same(value, self._session) for value in _cookies(headers.get("cookie", ""), self.cookie_name))

    # --- the checks -------------------------------------------------------------------
    def check_site(self, kind: str, method: str, headers: Mapping[str, str]) -> None:
        """Host, Origin and Sec-Fetch-Site; raises :class:`Refusal`."""
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            raise Refusal(403, "wrong Host (this server answers only to its own address)")
        origin = headers.get("origin")
        must_have_origin = kind == "websocket" or method.upper() in UNSAFE_METHODS
        if origin is None:
            if must_have_origin:
                raise Refusal(403, "missing Origin")
        elif origin.lower() not in self.origins:
            raise Refusal(403, "cross-origin request refused")
        site = headers.get("sec-fetch-site")
        if site is not None and site.lower() not in SAFE_FETCH_SITES:
            raise Refusal(403, "cross-site request refused")

    def check(self, kind: str, method: str, headers: Mapping[str, str]) -> None:
        """Everything a request needs apart from the launch link; raises :class:`Refusal`."""
        self.check_site(kind, method, headers)
        if not self.signed_in(headers):
            raise Refusal(401, "not signed in: open the link calmline opened or printed")

    def launch_token(self, query_string: bytes) -> str | None:
        """The launch token in a request's query string, if it carries one."""
        try:
            values = parse_qs(query_string.decode("ascii"), max_num_fields=4).get(LAUNCH_PARAM)
        except (UnicodeDecodeError, ValueError):
            return None
        return values[0] if values else None

    def count(self, reason: str) -> None:
        with self._lock:
            self.refused[reason] = self.refused.get(reason, 0) + 1


def _same(given: str, secret: str) -> bool:
    try:
        return secrets.compare_digest(given.encode("ascii"), secret.encode("ascii"))
    except UnicodeEncodeError:
        return False


def _cookies(header: str, name: str) -> list[str]:
    out = []
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            out.append(value.strip().strip('"'))
    return out
