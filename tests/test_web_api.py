"""The operator screen's HTTP and WebSocket API, through the ASGI test client."""

import pytest

from monitor.event_bus import EventBus
from monitor.web.broadcaster import CLIENT_QUEUE, Broadcaster, Client
from monitor.web.server import create_app
from tests.screen_client import WS_URL, screen_access, signed_in_client


@pytest.fixture()
def screen():
    bus = EventBus("web-test")
    events = []
    bus.subscribe(events.append)
    broadcaster = Broadcaster()
    bus.subscribe(broadcaster)
    acks = []

    def on_ack(prompt_id, action):
        acks.append((prompt_id, action))
        bus.emit("prompt_ack", 12.0, "operator", prompt_id=prompt_id, action=action)

    access = screen_access()
    with signed_in_client(create_app(broadcaster, on_ack, access), access) as client:
        yield bus, client, events, acks


def prompt(bus, t=10.0, pid="plan.manager@10.00", kind="plan"):
    bus.emit("prompt", t, "operator", id=pid, prompt=pid.split("@")[0], kind=kind, priority=70,
             title="Own the escalation yourself", body="Say you will pass every detail on.",
             why={"cue": "manager_request", "t": t, "quote": "your manager"}, ttl=15.0, language="en")


def test_page_and_assets_are_served_locally(screen):
    _, client, _, _ = screen
    page = client.get("/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert "http://" not in page.text and "https://" not in page.text   # nothing from the internet
    assert client.get("/static/app.js").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_websocket_sends_a_snapshot_then_events_as_they_are_emitted(screen):
    bus, client, _, _ = screen
    bus.emit("call_start", 0.0, source="x.wav", sample_rate=16000, input_rate=16000, channels=2,
             speakers=["operator", "customer"])
    bus.emit("state", 5.0, level="tense", previous="calm", reason="customer_raised_voice", score=2.0)
    with client.websocket_connect(WS_URL) as ws:
        snap = ws.receive_json()
        assert snap["kind"] == "snapshot"
        assert snap["call"]["speakers"] == ["operator", "customer"]
        assert snap["state"]["level"] == "tense"
        prompt(bus)
        msg = ws.receive_json()
        assert msg["kind"] == "event" and msg["event"]["type"] == "prompt"
        assert msg["event"]["emitted_ms"] <= msg["sent_ms"]


def test_acknowledgement_over_the_websocket_becomes_a_prompt_ack_event(screen):
    bus, client, events, acks = screen
    prompt(bus)
    with client.websocket_connect(WS_URL) as ws:
        assert ws.receive_json()["prompt"]["id"] == "plan.manager@10.00"
        ws.send_json({"kind": "ack", "prompt_id": "plan.manager@10.00", "action": "used"})
        ws.send_json({"kind": "ack", "prompt_id": "x", "action": "bogus"})      # ignored
        msg = ws.receive_json()
        assert msg["event"]["type"] == "prompt_ack"
    assert acks == [("plan.manager@10.00", "used")]
    assert [e["action"] for e in events if e.type == "prompt_ack"] == ["used"]


def test_acknowledged_prompt_is_not_in_the_next_snapshot(screen):
    bus, client, _, _ = screen
    prompt(bus)
    assert client.post("/api/ack", json={"prompt_id": "plan.manager@10.00", "action": "dismissed"}).status_code == 200
    assert client.get("/api/status").json()["prompt"] is None
    assert client.post("/api/ack", json={"prompt_id": "p", "action": "maybe"}).status_code == 422


def test_display_reports_become_latency_figures(screen):
    bus, client, _, _ = screen
    with client.websocket_connect(WS_URL) as ws:
        ws.receive_json()
        for k in range(10):
            ws.send_json({"kind": "displayed", "seq": k, "type": "prompt", "emitted_ms": 1000.0,
                          "received_ms": 1000.0 + k, "displayed_ms": 1010.0 + k})
        ws.send_json({"kind": "displayed", "seq": 99})                    # malformed: ignored
        prompt(bus)
        ws.receive_json()                                                 # round trip: reports processed
    report = client.get("/api/latency", params={"type": "prompt"}).json()
    assert report["count"] == 10
    assert 10 <= report["display_p50_ms"] <= 19 and report["receive_p95_ms"] <= 9


def test_a_slow_client_loses_meter_readings_first_and_counts_them():
    c = Client.__new__(Client)
    c.queue, c.dropped = __import__("collections").deque(), 0
    c.ready = type("E", (), {"set": lambda self: None})()
    c.push({"event": {"type": "prompt"}})
    for _ in range(CLIENT_QUEUE):
        c.push({"event": {"type": "level"}})
    assert len(c.queue) == CLIENT_QUEUE and c.dropped == 1
    assert c.queue[0]["event"]["type"] == "prompt"          # the prompt survived


def test_snapshot_keeps_a_short_transcript_with_partials_superseded():
    b = Broadcaster()
    bus = EventBus("t")
    bus.subscribe(b)
    bus.emit("utterance_partial", 3.0, "customer", t_end=6.0, text="I want", language="en")
    bus.emit("utterance", 3.0, "customer", t_end=8.0, text="I want a refund", language="en",
             avg_logprob=-0.2, no_speech_prob=0.0)
    texts = [u["text"] for u in b.snapshot()["transcript"]]
    assert texts == ["I want a refund"]


def test_snapshot_says_whether_the_transcript_is_delayed_right_now():
    # a page that connects (or reconnects) while the transcriber sheds work must
    # show "Transcript delayed" too, not only pages that saw the event
    b = Broadcaster()
    bus = EventBus("t")
    bus.subscribe(b)
    assert b.snapshot()["delayed"] is False
    bus.emit("transcript_delayed", 30.0, on=True, shed=["partials"], behind_s=3.2, dropped=1)
    assert b.snapshot()["delayed"] is True
    bus.emit("transcript_delayed", 45.0, on=False, shed=[], behind_s=0.0, dropped=1)
    assert b.snapshot()["delayed"] is False
    bus.emit("transcript_delayed", 50.0, on=True, shed=["partials"], behind_s=3.1, dropped=2)
    bus.emit("call_start", 0.0, source="next.wav", sample_rate=16000, input_rate=16000, channels=2,
             speakers=["operator", "customer"])
    assert b.snapshot()["delayed"] is False                   # a new call starts on time


def test_snapshot_keeps_the_prompt_that_owns_the_screen():
    b = Broadcaster()
    bus = EventBus("t")
    bus.subscribe(b)
    common = dict(body="b", why={}, language="en")
    bus.emit("prompt", 70.0, "operator", id="breathe@70", prompt="breathe.after_call", kind="breathe",
             priority=80, title="Reset", ttl=60.0, **common)
    bus.emit("prompt", 70.0, "operator", id="plan@70", prompt="plan.incident_note", kind="plan",
             priority=70, title="Note", ttl=60.0, **common)
    assert b.snapshot()["prompt"]["id"] == "breathe@70"
    bus.emit("prompt", 200.0, "operator", id="plan@200", prompt="plan.x", kind="plan",
             priority=70, title="Later", ttl=15.0, **common)
    assert b.snapshot()["prompt"]["id"] == "plan@200"          # the breathe one has expired
