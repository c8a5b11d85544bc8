"""The operator screen refuses everyone but the browser calmline signed in.

ASGI-level: every route without the credential, with a wrong one, with a foreign
Host (DNS rebinding) or Origin (another page), and as it should be; the one-time
launch link; body, message and rate limits; strict JSON out, checked acks in.
The same attacks in a real browser are in test_screen_security_browser.py.
"""

from __future__ import annotations

import json
import math
import socket
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from monitor.event_bus import EventBus
from monitor.web import messages
from monitor.web.access import ScreenAccess
from monitor.web.broadcaster import MAX_CLIENTS, Broadcaster
from monitor.web.guard import MAX_BODY
from monitor.web.limits import RateLimit
from monitor.web.server import create_app
from tests.screen_client import BASE, PORT, WS_URL, screen_access, sign_in, signed_in_client

PID = "plan.manager@10.00"
ROUTES = [("GET", "/"), ("GET", "/static/app.js"), ("GET", "/static/style.css"),
          ("GET", "/api/status"), ("GET", "/api/latency"), ("POST", "/api/ack")]
FOREIGN_HOSTS = ["evil.example", f"evil.example:{PORT}", "127.0.0.1", f"127.0.0.1:{PORT + 1}",
                 f"localhost.evil.example:{PORT}", f"127.0.0.1.nip.io:{PORT}", ""]
FOREIGN_ORIGINS = ["http://evil.example", f"http://127.0.0.1:{PORT + 1}", f"http://localhost:{PORT + 1}",
                   f"https://127.0.0.1:{PORT}", "null", f"http://evil.example:{PORT}"]


class Screen:
    def __init__(self) -> None:
        self.bus = EventBus("security-test")
        self.events = []
        self.bus.subscribe(self.events.append)
        self.broadcaster = Broadcaster()
        self.bus.subscribe(self.broadcaster)
        self.acks: list[tuple[str, str]] = []
        self.access = screen_access()
        self.app = create_app(self.broadcaster, self.on_ack, self.access)

    def on_ack(self, prompt_id: str, action: str) -> None:
        self.acks.append((prompt_id, action))
        self.bus.emit("prompt_ack", 12.0, "operator", prompt_id=prompt_id, action=action)

    def prompt(self, pid: str = PID, t: float = 10.0) -> None:
        self.bus.emit("prompt", t, "operator", id=pid, prompt=pid.split("@")[0], kind="plan", priority=70,
                      title="Own it", body="Say what you will do.", why={"cue": "manager_request", "t": t},
                      ttl=15.0, language="en")

    def transcript(self) -> None:
        self.bus.emit("utterance", 3.0, "customer", t_end=5.0, text="my account number is 1234",
                      language="en", avg_logprob=-0.1, no_speech_prob=0.0)


@pytest.fixture()
def screen() -> Screen:
    s = Screen()
    s.transcript()
    s.prompt()
    return s


def request(client: TestClient, method: str, path: str, **kw):
    if method == "POST":
        kw.setdefault("json", {"prompt_id": PID, "action": "used"})
    return client.request(method, path, follow_redirects=False, **kw)


def secret_in(response) -> bool:
    return "1234" in response.text or PID in response.text


# --- every route: no credential, wrong credential, foreign Host, foreign Origin, good ----------------
@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_needs_the_session_cookie(screen: Screen, method: str, path: str) -> None:
    with TestClient(screen.app, base_url=BASE, headers={"Origin": BASE}) as anonymous:
        r = request(anonymous, method, path)
        assert r.status_code == 401 and not secret_in(r), r.text
        wrong = {"Cookie": f"{screen.access.cookie_name}=not-the-secret"}
        r = request(anonymous, method, path, headers=wrong)
        assert r.status_code == 401 and not secret_in(r)
        # another port's cookie name (another calmline on this machine) is not this one's
        r = request(anonymous, method, path, headers={"Cookie": "calmline_screen_9999=x"})
        assert r.status_code == 401
    assert screen.acks == []


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_refuses_a_foreign_host_even_signed_in(screen: Screen, method: str, path: str) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        for host in FOREIGN_HOSTS:
            r = request(client, method, path, headers={"Host": host})
            assert r.status_code == 403 and not secret_in(r), (host, r.status_code)
    assert screen.acks == []


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_refuses_a_foreign_origin_even_signed_in(screen: Screen, method: str, path: str) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        for origin in FOREIGN_ORIGINS:
            r = request(client, method, path, headers={"Origin": origin})
            assert r.status_code == 403 and not secret_in(r), (origin, r.status_code)
        for site in ("same-site", "cross-site"):    # another port on 127.0.0.1 is same-site
            r = request(client, method, path, headers={"Sec-Fetch-Site": site})
            assert r.status_code == 403, site
    assert screen.acks == []


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_answers_the_signed_in_page(screen: Screen, method: str, path: str) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        for host in ("127.0.0.1", "localhost", "[::1]"):
            origin = f"http://{host}:{PORT}"
            r = request(client, method, path, headers={"Host": f"{host}:{PORT}", "Origin": origin,
                                                       "Sec-Fetch-Site": "same-origin"})
            assert r.status_code == 200, (host, r.status_code, r.text)
            assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["x-frame-options"] == "DENY"


def test_the_configured_host_is_accepted_and_others_are_not() -> None:
    access = ScreenAccess("192.168.1.20", 8800)
    assert "192.168.1.20:8800" in access.hosts and "127.0.0.1:8800" in access.hosts
    assert "192.168.1.21:8800" not in access.hosts and "192.168.1.20" not in access.hosts
    assert ScreenAccess("0.0.0.0", 8800).hosts == {"127.0.0.1:8800", "localhost:8800", "[::1]:8800"}


def test_a_state_change_needs_an_origin(screen: Screen) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        del client.headers["origin"]
        assert client.get("/api/status").status_code == 200          # a plain GET from the address bar
        r = client.post("/api/ack", json={"prompt_id": PID, "action": "used"})
        assert r.status_code == 403
    assert screen.acks == []


# --- the WebSocket ------------------------------------------------------------------------------
def refused_ws(client: TestClient, headers: dict[str, str] | None = None) -> bool:
    try:
        with client.websocket_connect(WS_URL, headers=headers or {}) as ws:
            ws.receive_text()
    except WebSocketDisconnect as closed:
        return closed.code == 1008
    return False


def test_websocket_without_credential_or_from_elsewhere_is_refused(screen: Screen) -> None:
    with TestClient(screen.app, base_url=BASE, headers={"Origin": BASE}) as anonymous:
        assert refused_ws(anonymous)
        assert refused_ws(anonymous, {"Cookie": f"{screen.access.cookie_name}=guess"})
    with signed_in_client(screen.app, screen.access) as client:
        for host in FOREIGN_HOSTS:
            assert refused_ws(client, {"Host": host}), host
        for origin in FOREIGN_ORIGINS:
            assert refused_ws(client, {"Origin": origin}), origin
        del client.headers["origin"]
        assert refused_ws(client)                                      # an Origin is required
    assert len(screen.broadcaster.clients) == 0


def test_websocket_for_the_signed_in_page(screen: Screen) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        with client.websocket_connect(WS_URL) as ws:
            snap = ws.receive_json()
            assert snap["kind"] == "snapshot" and snap["prompt"]["id"] == PID


# --- the one-time launch link ----------------------------------------------------------------------
def test_launch_link_sets_a_strict_http_only_cookie_once(screen: Screen) -> None:
    access = screen.access
    link = access.launch_url(BASE + "/")
    token = link.split("launch=")[1]
    assert len(token) >= 43                                            # 256 bits, url-safe base64
    with TestClient(screen.app, base_url=BASE) as browser:
        r = browser.get(link, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"   # the token leaves the address bar
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{access.cookie_name}=")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        value = cookie.split(";")[0].split("=", 1)[1]
        assert len(value) >= 43 and value != token
        assert browser.get("/").status_code == 200
        # reloading the (already used) link in the signed-in browser just lands on the page
        assert browser.get(link, follow_redirects=False).status_code == 303
    with TestClient(screen.app, base_url=BASE) as other:
        r = other.get(link, follow_redirects=False)                    # a second browser: refused
        assert r.status_code == 401 and "already been used" in r.text and "set-cookie" not in r.headers
        assert other.get("/").status_code == 401
    with pytest.raises(RuntimeError):
        access.launch_url(BASE + "/")                                  # and no new one is handed out


def test_launch_link_from_a_foreign_host_neither_works_nor_burns_the_token(screen: Screen) -> None:
    link = screen.access.launch_url(BASE + "/")
    with TestClient(screen.app, base_url=BASE) as browser:
        r = browser.get(link, headers={"Host": f"evil.example:{PORT}"}, follow_redirects=False)
        assert r.status_code == 403 and "set-cookie" not in r.headers
        r = browser.get(link.replace("launch=", "launch=x"), follow_redirects=False)
        assert r.status_code == 401 and "set-cookie" not in r.headers
        sign_in(browser, screen.access)                                # the operator's link still works


# --- limits ----------------------------------------------------------------------------------------
def test_request_bodies_are_bounded(screen: Screen) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        big = json.dumps({"prompt_id": "x" * (MAX_BODY + 10), "action": "used"})
        r = client.post("/api/ack", content=big, headers={"Content-Type": "application/json"})
        assert r.status_code == 413

        def chunks():
            yield b'{"prompt_id": "' + PID.encode() + b'", "action": "used"}'
        r = client.post("/api/ack", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 411                                    # no Content-Length
        r = client.post("/api/ack", json={"prompt_id": "p" * 201, "action": "used"})
        assert r.status_code == 422
        r = client.post("/api/ack", json={"prompt_id": PID, "action": "used", "extra": 1})
        assert r.status_code == 422
    assert screen.acks == []


def test_api_calls_are_rate_limited(screen: Screen) -> None:
    now = [0.0]
    screen.app.api_limit = RateLimit(2.0, 3.0, clock=lambda: now[0])
    with signed_in_client(screen.app, screen.access) as client:
        codes = [client.get("/api/status").status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        now[0] += 1.0                                                  # two more a second later
        assert [client.get("/api/latency").status_code for _ in range(3)] == [200, 200, 429]
        assert client.get("/").status_code == 200                      # the page itself is not an API call


def test_only_a_few_pages_at_once(screen: Screen) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        sessions = [client.websocket_connect(WS_URL) for _ in range(MAX_CLIENTS)]
        for s in sessions:
            s.__enter__()
            s.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect(WS_URL) as extra:
                extra.receive_json()
        assert closed.value.code == 1013
        for s in sessions:
            s.__exit__(None, None, None)
        assert screen.broadcaster.refused_clients == 1


# --- acknowledgements are checked ---------------------------------------------------------------------
def test_ack_must_name_a_prompt_of_this_call_and_counts_once(screen: Screen) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        r = client.post("/api/ack", json={"prompt_id": "breathe.hold@99.00", "action": "dismissed"})
        assert r.status_code == 404
        assert client.post("/api/ack", json={"prompt_id": PID, "action": "used"}).json() == {"ok": "acknowledged"}
        assert client.post("/api/ack", json={"prompt_id": PID, "action": "dismissed"}).json() == \
            {"ok": "already acknowledged"}
    assert screen.acks == [(PID, "used")]
    assert [e["prompt_id"] for e in screen.events if e.type == "prompt_ack"] == [PID]


BAD_PAGE_MESSAGES = [
    '{"kind": "ack", "prompt_id": "breathe.hold@99.00", "action": "used"}',       # not a prompt of this call
    '{"kind": "ack", "prompt_id": "%s", "action": "maybe"}' % PID,
    '{"kind": "ack", "prompt_id": ["%s"], "action": "used"}' % PID,
    '{"kind": "ack", "prompt_id": "%s", "action": "used", "by": "sue"}' % PID,   # unknown field
    '{"kind": "ack", "prompt_id": "%s", "action": "used", "x": "%s"}' % (PID, "y" * 2000),  # too big
    '{"kind": "displayed", "seq": 1, "type": "prompt", "emitted_ms": NaN, "received_ms": 1, "displayed_ms": 2}',
    '{"kind": "displayed", "seq": 1, "type": "prompt", "emitted_ms": 1, "received_ms": Infinity,'
    ' "displayed_ms": 2}',
    '{"kind": "displayed", "seq": 1, "type": "prompt", "emitted_ms": 1, "received_ms": 2, "displayed_ms": 1e999}',
    '{"kind": "displayed", "seq": true, "type": "prompt", "emitted_ms": 1, "received_ms": 2, "displayed_ms": 3}',
    '{"kind": "displayed", "seq": 1, "type": "<img>", "emitted_ms": 1, "received_ms": 2, "displayed_ms": 3}',
    '{"kind": "displayed", "seq": 1, "type": "prompt", "emitted_ms": 1, "received_ms": 2, "displayed_ms": 9e12}',
    '{"kind": "other"}', '[1, 2]', 'not json',
]


def test_page_messages_are_validated(screen: Screen) -> None:
    with signed_in_client(screen.app, screen.access) as client:
        with client.websocket_connect(WS_URL) as ws:
            ws.receive_json()
            for text in BAD_PAGE_MESSAGES:
                ws.send_text(text)
            ws.send_text(json.dumps({"kind": "ack", "prompt_id": PID, "action": "dismissed"}))
            assert ws.receive_json()["event"]["type"] == "prompt_ack"    # the good one, after all the bad
        status = client.get("/api/status").json()
    assert screen.acks == [(PID, "dismissed")]
    assert screen.broadcaster.latency_report()["count"] == 0
    assert status["refused"]["page_messages"] == len(BAD_PAGE_MESSAGES)


def test_page_messages_are_rate_limited() -> None:
    now = [0.0]
    limit = RateLimit(100.0, 200.0, clock=lambda: now[0])
    assert sum(limit.allow() for _ in range(500)) == 200
    now[0] += 0.5
    assert sum(limit.allow() for _ in range(500)) == 50 and limit.refused == 750


# --- strict JSON out ------------------------------------------------------------------------------------
def strict(text: str):
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} sent to the page"))


def test_non_finite_numbers_never_reach_the_page(screen: Screen) -> None:
    screen.bus.emit("call_start", 0.0, source="x.wav", sample_rate=16000, channels=2,
                    speakers=["operator", "customer"])
    with signed_in_client(screen.app, screen.access) as client:
        with client.websocket_connect(WS_URL) as ws:
            ws.receive_text()
            level = screen.bus.emit("level", 1.0, "operator", dbfs=-math.inf, short_term_dbfs=math.nan,
                                    baseline_dbfs=-30.0, speaking=False)
            why = {"cue": "test", "t": math.inf}
            screen.bus.emit("prompt", 1e999, "operator", id="p@inf", prompt="p", kind="plan", priority=70,
                            title="T", body="B", why=why, ttl=15.0, language="en")
            first = strict(ws.receive_text())["event"]
            second = strict(ws.receive_text())["event"]
        assert first["dbfs"] is None and first["short_term_dbfs"] is None and first["baseline_dbfs"] == -30.0
        assert second["t"] is None and second["why"]["t"] is None
        assert math.isinf(why["t"]) and math.isinf(level["dbfs"])       # the events themselves untouched
        r = client.get("/api/status")
        assert r.status_code == 200
        status = strict(r.text)
    assert status["nonfinite_values"] == 4
    assert status["levels"]["operator"]["dbfs"] is None


def test_encode_refuses_non_finite() -> None:
    with pytest.raises(ValueError):
        messages.encode({"x": float("nan")})
    assert messages.parse('{"a": NaN}') is None and messages.parse('{"a": -Infinity}') is None


# --- the after-call card's time ---------------------------------------------------------------------------
def test_snapshot_says_when_the_call_first_got_heated(screen: Screen) -> None:
    bus = screen.bus
    bus.emit("call_start", 0.0, source="x.wav", sample_rate=16000, channels=2, speakers=["operator", "customer"])
    assert screen.broadcaster.snapshot()["heated_at"] is None
    for t, level in ((10.0, "tense"), (37.4, "escalated"), (50.0, "abusive"), (60.0, "escalated"), (90.0, "calm")):
        bus.emit("state", t, level=level, previous="x", reason="test")
    assert screen.broadcaster.snapshot()["heated_at"] == 37.4
    bus.emit("call_start", 0.0, source="y.wav", sample_rate=16000, channels=1, speakers=["call"])
    assert screen.broadcaster.snapshot()["heated_at"] is None


# --- the CLI's side: the link is handed over, never logged -------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, headers: dict[str, str] | None = None):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=5) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def test_no_browser_prints_the_link_once_and_it_signs_in(capfd) -> None:
    from monitor.web.screen import start_screen

    said: list[str] = []
    opened: list[str] = []
    port = free_port()
    server = start_screen(EventBus("cli"), lambda: 0.0, host="127.0.0.1", port=port, open_browser=False,
                          say=said.append, browser=opened.append)
    try:
        assert opened == [] and len(said) == 1
        link = said[0].split()[3]
        assert link.startswith(f"http://127.0.0.1:{port}/?launch=")
        token = link.split("launch=")[1]
        status, headers, _ = fetch(link)
        assert status == 303 and "HttpOnly" in headers["set-cookie"]
        cookie = headers["set-cookie"].split(";")[0]
        assert fetch(f"http://127.0.0.1:{port}/api/status", {"Cookie": cookie})[0] == 200
        assert fetch(f"http://127.0.0.1:{port}/api/status")[0] == 401
        assert fetch(link)[0] == 401                                   # once
        assert fetch(f"http://127.0.0.1:{port}/api/status",
                     {"Cookie": cookie, "Host": "evil.example"})[0] == 403
    finally:
        server.stop()
    out, err = capfd.readouterr()
    secret = cookie.split("=", 1)[1]
    assert token not in out + err and secret not in out + err          # no access log, no echo


def test_opening_the_browser_hands_it_the_link_and_prints_no_secret() -> None:
    from monitor.web.screen import start_screen

    said: list[str] = []
    opened: list[str] = []
    server = start_screen(EventBus("cli"), lambda: 0.0, host="127.0.0.1", port=free_port(), open_browser=True,
                          say=said.append, browser=lambda url: opened.append(url) or True)
    try:
        assert len(opened) == 1 and "launch=" in opened[0]
        assert said == [f"operator screen: {server.url} (opened in your browser)"]
    finally:
        server.stop()
    said.clear()
    server = start_screen(EventBus("cli"), lambda: 0.0, host="127.0.0.1", port=free_port(), open_browser=True,
                          say=said.append, browser=lambda url: False)   # no browser could be opened
    try:
        assert len(said) == 1 and "launch=" in said[0]
    finally:
        server.stop()


def test_a_half_sent_request_is_not_held_open() -> None:
    from monitor.web.server import WebServer

    s = Screen()
    server = WebServer(s.app, "127.0.0.1", free_port(), request_timeout_s=0.5)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1")    # ... and nothing more
            answer = b""
            while chunk := conn.recv(4096):                                   # until the server closes
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408")
    finally:
        server.stop()
