"""Attacks on the operator screen in a real browser (the system's headless Chromium).

The operator's browser is signed in to the screen (one-time link, session
cookie); the call has a transcript line and a private breathe prompt.  Then, in
that same browser:

- a page from another origin (another port on 127.0.0.1, which is *same-site* and
  so gets the SameSite cookie; and another site) opens the screen's WebSocket,
  reads its API and posts acknowledgements, by script and by form;
- a DNS-rebinding page (``evil.example`` resolving to 127.0.0.1, the screen's
  port) reads the screen as its own origin.

Chromium's own local-network protections are switched off, so what is tested is
that the screen refuses these requests, not that the browser never sent them;
each test checks the server saw and refused them.
"""

from __future__ import annotations

import http.server
import json
import threading
from typing import Iterator

import pytest

from tests.test_operator_page_browser import CHROMIUM, CHROMIUM_ARGS, Screen, free_port, open_page

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

ARGS = CHROMIUM_ARGS + [
    "--host-resolver-rules=MAP evil.example 127.0.0.1, MAP attacker.example 127.0.0.1",
    "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessSendPreflights,"
    "PrivateNetworkAccessRespectPreflightResults,BlockInsecurePrivateNetworkRequests",
]
SECRET_WORDS = "account number is 4411"
BREATHE = "breathe.hold@47.40"

ATTACK = """<!doctype html><meta charset="utf-8"><title>cute cats</title>
<iframe name="sink"></iframe>
<form id="f" method="POST" action="http://%(target)s/api/ack" enctype="text/plain" target="sink">
<input name='{"prompt_id": "%(pid)s", "action": "used", "x": "' value='"}'></form>
<script>
window.result = {opened: false, messages: [], closed: null, body: null, posted: null};
const ws = new WebSocket(%(ws)s);
ws.onopen = () => {
  result.opened = true;
  ws.send(JSON.stringify({kind: "ack", prompt_id: "%(pid)s", action: "dismissed"}));
};
ws.onmessage = (m) => result.messages.push(m.data);
ws.onclose = (e) => { result.closed = e.code; };
fetch("%(http)s/api/status", {credentials: "include"})
  .then((r) => r.text().then((t) => { result.body = r.status + " " + t; }))
  .catch((e) => { result.body = "blocked " + e; });
fetch("%(http)s/api/ack", {method: "POST", mode: "no-cors", credentials: "include",
  headers: {"Content-Type": "text/plain"},
  body: JSON.stringify({prompt_id: "%(pid)s", action: "dismissed"})})
  .then(() => { result.posted = "sent"; }).catch(() => { result.posted = "blocked"; });
document.getElementById("f").submit();
</script>"""


def attack_page(target: str, same_origin: bool = False) -> str:
    """The hostile page; ``same_origin``: it addresses the screen as its own origin (rebinding)."""
    ws = '"ws://" + location.host + "/ws"' if same_origin else json.dumps(f"ws://{target}/ws")
    return ATTACK % {"target": target, "pid": BREATHE, "http": "" if same_origin else f"http://{target}",
                     "ws": ws}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def screen() -> Iterator[Screen]:
    s = Screen()
    s.call_start()
    s.emit("utterance", 30.0, "customer", t_end=33.0, text=f"My {SECRET_WORDS}.", language="en",
           avg_logprob=-0.1, no_speech_prob=0.01)
    s.prompt(BREATHE, 47.4, kind="breathe", priority=80, title="Hold, breathe out, return", ttl=60.0,
             pacer={"inhale_s": 4, "exhale_s": 6, "cycles": 3}, private=True)
    yield s
    s.stop()


class AttackSite:
    """A hostile web site on another port of this machine."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_attack(page: Page) -> dict:
    page.wait_for_function("window.result && (result.closed !== null || result.messages.length > 0)"
                           " && result.body !== null && result.posted !== null", timeout=10_000)
    page.wait_for_timeout(300)                                  # the form post lands too
    return page.evaluate("window.result")


def signed_in(browser: Browser, screen: Screen) -> Page:
    operator = open_page(browser, screen)
    expect(operator.locator("#prompt-title")).to_have_text("Hold, breathe out, return")
    expect(operator.locator("#transcript")).to_contain_text(SECRET_WORDS)
    return operator


@pytest.mark.parametrize("site", ["127.0.0.1", "attacker.example"])
def test_a_page_from_another_origin_can_neither_read_nor_drive_the_screen(
        browser: Browser, screen: Screen, site: str) -> None:
    operator = signed_in(browser, screen)
    target = f"127.0.0.1:{screen.server.port}"
    evil = AttackSite(attack_page(target))
    try:
        tab = operator.context.new_page()                       # the operator's own browser
        tab.goto(f"http://{site}:{evil.port}/")
        result = run_attack(tab)
    finally:
        evil.close()
    assert result["opened"] is False and result["messages"] == []
    assert SECRET_WORDS not in json.dumps(result) and BREATHE not in json.dumps(result)
    assert screen.acks == []
    assert not [e for e in screen.events if e.type == "prompt_ack"]
    refused = screen.access.refused
    assert refused.get("cross-origin request refused", 0) >= 2, refused   # the socket and the posts
    # the operator's own screen is untouched and still works
    expect(operator.locator("#prompt-title")).to_have_text("Hold, breathe out, return")
    operator.keyboard.press("d")
    expect(operator.locator("#prompt-card")).to_be_hidden()
    assert screen.acks == [(BREATHE, "dismissed")]


def test_dns_rebinding_reads_nothing(browser: Browser, screen: Screen) -> None:
    operator = signed_in(browser, screen)
    port = screen.server.port
    rebound = f"evil.example:{port}"                            # resolves to 127.0.0.1, the screen's port
    tab = operator.context.new_page()
    for path in ("/", "/api/status", "/static/app.js"):
        response = tab.goto(f"http://{rebound}{path}")
        assert response is not None and response.status == 403, path
        assert SECRET_WORDS not in tab.content()
    # the rebinding page's script, same-origin from its point of view
    tab.route(f"http://{rebound}/attack",
              lambda route: route.fulfill(status=200, content_type="text/html",
                                          body=attack_page(rebound, same_origin=True)))
    tab.goto(f"http://{rebound}/attack")
    result = run_attack(tab)
    assert result["opened"] is False and result["messages"] == []
    assert result["body"].startswith("403 ") and SECRET_WORDS not in result["body"]
    assert screen.acks == []
    assert screen.access.refused.get("wrong Host (this server answers only to its own address)", 0) >= 5
    expect(operator.locator("#connection")).to_have_attribute("data-state", "connected")
