"""calmline serve, operator screens: every operator's screen at /operator/NAME/ on the
one server, each with its own one-time link and cookie, the local screen's Host and
Origin checks, the operator's call pushed to it and acknowledgements back into that
call's events."""

import json
import os
import re
import stat

import httpx
from websockets.sync.client import connect

from tests.serve_clients import load_8k, read_events, serving, twilio_messages

LINK = re.compile(r"(http://\S+/operator/(\w+)/\?launch=\S+)")


def links(said):
    return {m.group(2): m.group(1) for line in said for m in [LINK.search(line)] if m}


def sign_in(client, link):
    r = client.get(link, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def test_each_operator_signs_in_to_their_own_screen_only(tmp_path):
    said = []
    with serving(tmp_path, operators=("olga", "sue"), say=said.append) as service:
        base = f"http://127.0.0.1:{service.port}"
        got = links(said)
        assert set(got) == {"olga", "sue"}
        with httpx.Client(base_url=base) as olga:
            r = sign_in(olga, got["olga"])
            assert r.headers["location"] == "/operator/olga/"
            cookie = r.headers["set-cookie"]
            assert "Path=/operator/olga/" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
            page = olga.get("/operator/olga/")
            assert page.status_code == 200 and 'src="static/app.js"' in page.text
            assert olga.get("/operator/olga/static/app.js").status_code == 200
            assert olga.get("/operator/olga").status_code == 308          # to the trailing slash
            # olga's cookie opens nothing of sue's, and the link works once
            stolen = "; ".join(f"{k}={v}" for k, v in olga.cookies.items())     # even if sent there
            assert olga.get("/operator/sue/", headers={"Cookie": stolen}).status_code == 401
            assert olga.get(got["olga"], follow_redirects=False).status_code == 303   # still signed in
        with httpx.Client(base_url=base) as other:
            assert other.get(got["olga"], follow_redirects=False).status_code == 401   # used
            assert other.get("/operator/olga/api/status").status_code == 401
            assert other.get("/operator/nobody/").status_code == 404
        with httpx.Client(base_url=base) as sue:
            sign_in(sue, got["sue"])
            bad_host = sue.get("/operator/sue/api/status", headers={"Host": "evil.example"})
            assert bad_host.status_code == 403
            cross = sue.post("/operator/sue/api/ack", json={"prompt_id": "x", "action": "used"},
                             headers={"Origin": "http://evil.example"})
            assert cross.status_code == 403
            assert sue.get("/operator/sue/api/status").status_code == 200


def test_the_operators_call_reaches_their_screen_and_acks_go_back_to_it(tmp_path):
    said = []
    audio = load_8k("escalation")[:, : 8000 * 46]          # a talk-over prompt at 44.3 s
    sid = "CA-screen"
    with serving(tmp_path, operators=("olga",), say=said.append) as service:
        base = f"http://127.0.0.1:{service.port}"
        with httpx.Client(base_url=base) as browser:
            sign_in(browser, links(said)["olga"])
            headers = {"Cookie": f"{next(iter(browser.cookies.keys()))}={next(iter(browser.cookies.values()))}",
                       "Origin": base}
        with connect(f"ws://127.0.0.1:{service.port}/operator/olga/ws", additional_headers=headers) as page:
            assert json.loads(page.recv(timeout=5))["kind"] == "snapshot"
            with connect(f"ws://127.0.0.1:{service.port}/ingest/twilio") as twilio:
                messages = list(twilio_messages(audio, call_sid=sid, operator="olga"))
                for _, text in messages[:-1]:                  # all but stop: the call goes on
                    twilio.send(text)
                prompt = None
                while prompt is None:
                    msg = json.loads(page.recv(timeout=20))
                    event = msg.get("event", {})
                    assert event.get("call_id", sid) == sid
                    if event.get("type") == "prompt":
                        prompt = event
                page.send(json.dumps({"kind": "ack", "prompt_id": prompt["id"], "action": "used"}))
                while json.loads(page.recv(timeout=10)).get("event", {}).get("type") != "prompt_ack":
                    pass
                twilio.send(messages[-1][1])                    # stop
            events = read_events(tmp_path / "calls" / f"{sid}.jsonl")
    acks = [e for e in events if e["type"] == "prompt_ack"]
    assert [(a["prompt_id"], a["action"]) for a in acks] == [(prompt["id"], "used")]


def test_with_a_links_dir_each_used_link_is_replaced_by_a_fresh_one(tmp_path):
    folder = tmp_path / "links"
    said = []
    with serving(tmp_path, operators=("olga",), links_dir=folder, say=said.append) as service:
        assert not links(said)                                  # never printed
        path = folder / "olga.url"
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        first = path.read_text().strip()
        with httpx.Client(base_url=f"http://127.0.0.1:{service.port}") as a:
            sign_in(a, first)
        second = path.read_text().strip()
        assert second != first
        with httpx.Client(base_url=f"http://127.0.0.1:{service.port}") as b:
            assert b.get(first, follow_redirects=False).status_code == 401
            sign_in(b, second)
            assert b.get("/operator/olga/api/status").status_code == 200
