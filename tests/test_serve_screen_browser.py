"""calmline serve's operator screens in a real browser (the system's headless
Chromium via Playwright): an operator signs in with their one-time link, the page
at /operator/NAME/ connects (its WebSocket and API addresses are relative to it),
shows their call as it streams in from the phone system, and a click on "Used"
lands in that call's events; another operator's browser is not signed in there."""

from __future__ import annotations

import os
import re

import pytest

CHROMIUM = "/usr/bin/chromium"
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} is not installed (make test installs it: scripts/install-system-deps --test)",
                allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from tests.serve_clients import load_8k, read_events, serving, twilio_messages  # noqa: E402

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LINK = re.compile(r"(http://\S+/operator/(\w+)/\?launch=\S+)")


def test_an_operator_watches_their_call_and_acknowledges_a_prompt(tmp_path):
    said: list[str] = []
    audio = load_8k("escalation")[:, : 8000 * 46]                 # a talk-over prompt at 44.3 s
    with serving(tmp_path, operators=("olga", "sue"), say=said.append) as service, sync_playwright() as p:
        links = {m.group(2): m.group(1) for line in said for m in [LINK.search(line)] if m}
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            olga = browser.new_context().new_page()
            errors: list[str] = []
            olga.on("pageerror", lambda exc: errors.append(str(exc)))
            olga.goto(links["olga"])
            assert olga.url.endswith("/operator/olga/")           # the token left the address bar
            expect(olga.locator("#connection")).to_have_attribute("data-state", "connected")
            sue = browser.new_context().new_page()
            sue.goto(f"http://127.0.0.1:{service.port}/operator/olga/")
            assert "not signed in" in sue.content().lower()
            with connect(f"ws://127.0.0.1:{service.port}/ingest/twilio") as twilio:
                messages = list(twilio_messages(audio, call_sid="CA-browser", operator="olga"))
                for _, text in messages[:-1]:
                    twilio.send(text)
                expect(olga.locator("#meter-customer")).to_be_visible(timeout=10000)
                expect(olga.locator("#prompt-card")).to_be_visible(timeout=15000)
                olga.locator("#ack-used").click()
                expect(olga.locator("#prompt-card")).to_be_hidden()
                twilio.send(messages[-1][1])
            events = read_events(tmp_path / "calls" / "CA-browser.jsonl")
            assert errors == []
        finally:
            browser.close()
    acks = [e for e in events if e["type"] == "prompt_ack"]
    assert len(acks) == 1 and acks[0]["action"] == "used"
    assert acks[0]["prompt_id"] in {e["id"] for e in events if e["type"] == "prompt"}
