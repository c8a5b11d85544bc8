"""The hub: auth on every route, publishing with spool and resume, audit, purge."""

import json
import socket
import time

import pytest
from fastapi.testclient import TestClient

from monitor.errors import CalmlineError
from monitor.event_bus import EventBus
from monitor.hub.app import create_hub_app
from monitor.hub.auth import add_user, authenticate, revoke_user
from monitor.hub.publisher import HubPublisher, is_private, redact
from monitor.hub.store import Store
from monitor.web.server import WebServer


@pytest.fixture()
def hub(tmp_path):
    store = Store(tmp_path / "hub.db")
    tokens = {name: add_user(store, name, role) for name, role in
              (("sue", "supervisor"), ("olga", "operator"), ("omar", "operator"), ("gone", "supervisor"))}
    revoke_user(store, "gone")
    return store, tokens


def seed_call(store, call_id="c1", operator="olga", flagged=True):
    store.ensure_call(call_id, operator, time.time())
    events = [
        {"v": 1, "type": "call_start", "call_id": call_id, "seq": 0, "t": 0.0, "wall": 0.0,
         "source": "x", "sample_rate": 16000, "input_rate": 16000, "channels": 2,
         "speakers": ["operator", "customer"]},
        {"v": 1, "type": "trigger", "call_id": call_id, "seq": 1, "t": 3.0, "wall": 3.0, "speaker": "customer",
         "category": "legal_threat" if flagged else "empathy", "id": "x.y", "text": "court", "span": [0, 5]},
    ]
    for e in events:
        store.add_event(call_id, e, time.time())
    store.add_clip(call_id, 0.0, 2.0, "legal_threat", 16000, b"\0\0" * 32000, time.time())


ROUTES = [("get", "/api/me"), ("get", "/api/calls"), ("get", "/api/calls/c1"),
          ("get", "/api/calls/c1/report"), ("get", "/api/audit"), ("get", "/api/clips/1/audio")]
SUPERVISOR_ONLY = {"/api/audit", "/api/clips/1/audio"}


@pytest.mark.parametrize("method, path", ROUTES)
def test_auth_matrix(hub, method, path):
    store, tokens = hub
    seed_call(store)
    seed_call(store, "c2", operator="omar")
    client = TestClient(create_hub_app(store))
    call = getattr(client, method)
    assert call(path).status_code == 401
    assert call(path, headers={"Authorization": "Bearer not-a-token"}).status_code == 401
    assert call(path, headers={"Authorization": f"Bearer {tokens['gone']}"}).status_code == 401
    assert call(path, headers={"Authorization": f"Bearer {tokens['sue']}"}).status_code == 200
    as_owner = call(path, headers={"Authorization": f"Bearer {tokens['olga']}"}).status_code
    as_other = call(path, headers={"Authorization": f"Bearer {tokens['omar']}"}).status_code
    if path in SUPERVISOR_ONLY:
        assert as_owner == 403 and as_other == 403
    elif "/c1" in path:
        assert as_owner == 200 and as_other == 403          # operators read only their own calls
    else:
        assert as_owner == 200 and as_other == 200


def test_operators_list_only_their_calls(hub):
    store, tokens = hub
    seed_call(store)
    seed_call(store, "c2", operator="omar")
    client = TestClient(create_hub_app(store))
    ids = lambda tok, **q: [c["id"] for c in client.get("/api/calls", params=q, headers={  # noqa: E731
        "Authorization": f"Bearer {tok}"}).json()["calls"]]
    assert sorted(ids(tokens["sue"])) == ["c1", "c2"]
    assert ids(tokens["olga"]) == ["c1"]
    assert client.get("/api/calls", params={"operator": "omar"},
                      headers={"Authorization": f"Bearer {tokens['olga']}"}).status_code == 403


@pytest.mark.parametrize("path", ["/ws/publish", "/ws/dashboard", "/ws/listen/c1"])
def test_websockets_need_a_token_and_the_right_role(hub, path):
    store, tokens = hub
    seed_call(store)
    client = TestClient(create_hub_app(store))
    from starlette.websockets import WebSocketDisconnect

    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {tokens['gone']}"}):
        with pytest.raises(WebSocketDisconnect) as exc:
            with client.websocket_connect(path, headers=headers) as ws:
                ws.receive_text()
        assert exc.value.code == 4401
    if path != "/ws/publish":
        with pytest.raises(WebSocketDisconnect) as exc:
            with client.websocket_connect(path, headers={"Authorization": f"Bearer {tokens['olga']}"}) as ws:
                ws.receive_text()
        assert exc.value.code == 4403
    # a browser passes the token as a subprotocol
    with client.websocket_connect(path if path != "/ws/publish" else "/ws/dashboard",
                                  subprotocols=["bearer", tokens["sue"]]) as ws:
        if path == "/ws/dashboard":
            assert ws.receive_json()["kind"] == "calls"


def test_operator_cannot_publish_into_another_operators_call(hub):
    store, tokens = hub
    seed_call(store, "c2", operator="omar")
    client = TestClient(create_hub_app(store))
    with client.websocket_connect("/ws/publish", headers={"Authorization": f"Bearer {tokens['olga']}"}) as ws:
        ws.send_text(json.dumps({"kind": "event", "call_id": "c2", "event": {
            "v": 1, "type": "silence", "call_id": "c2", "seq": 9, "t": 1.0, "wall": 1.0, "t_detected": 6.0}}))
        reply = ws.receive_json()
        assert reply["kind"] == "ack" and "another operator" in reply["refused"]
        ws.send_text("{not json")                              # a damaged spool line
        assert ws.receive_json()["refused"]
    assert store.max_seq("c2") == 1


def test_listening_to_a_clip_is_audited_with_its_length(hub):
    store, tokens = hub
    seed_call(store)
    client = TestClient(create_hub_app(store))
    audio = client.get("/api/clips/1/audio", headers={"Authorization": f"Bearer {tokens['sue']}"})
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    (entry,) = store.audit_log()
    assert entry["user_name"] == "sue" and entry["action"] == "listen_clip"
    assert entry["call_id"] == "c1" and entry["duration_s"] == 2.0
    assert client.get("/api/audit", headers={"Authorization": f"Bearer {tokens['sue']}"}).json()["audit"][0]["action"] == "listen_clip"


def test_live_listening_tells_the_publisher_and_is_audited(hub):
    store, tokens = hub
    # one event loop for both sockets, as the real server has (a socket per loop
    # makes relaying audio between them a race that can hang the test)
    with TestClient(create_hub_app(store)) as client, \
            client.websocket_connect("/ws/publish", headers={"Authorization": f"Bearer {tokens['olga']}"}) as pub:
        pub.send_text(json.dumps({"kind": "event", "call_id": "live1", "event": {
            "v": 1, "type": "silence", "call_id": "live1", "seq": 0, "t": 0.0, "wall": 0.0, "t_detected": 5.0}}))
        assert pub.receive_json()["kind"] == "ack"
        with client.websocket_connect("/ws/listen/live1", headers={"Authorization": f"Bearer {tokens['sue']}"}) as ear:
            assert pub.receive_json() == {"kind": "listen", "call_id": "live1", "on": True, "by": "sue"}
            pub.send_bytes(b"\x01\x00" * 160)
            assert ear.receive_bytes() == b"\x01\x00" * 160
            time.sleep(0.2)
        assert pub.receive_json()["on"] is False
    (entry,) = store.audit_log()
    assert entry["action"] == "listen_live" and entry["user_name"] == "sue" and entry["duration_s"] >= 0.2


def test_purge_applies_the_retention(hub, tmp_path):
    store, _ = hub
    seed_call(store, "old")
    seed_call(store, "new")
    store.execute("UPDATE calls SET last_event_at = ? WHERE id = 'old'", (time.time() - 40 * 86400,))
    store.audit("sue", "listen_clip", "old", now=time.time() - 40 * 86400)
    counts = store.purge(time.time() - 30 * 86400)
    assert counts == {"calls": 1, "events": 2, "clips": 1, "audit": 1}
    assert store.call("old") is None and store.call("new") is not None
    assert store.events("old") == [] and store.clips("old") == []


def test_schema_is_versioned_and_reopening_does_not_migrate_twice(tmp_path):
    a = Store(tmp_path / "h.db")
    assert a.version == 1
    a.close()
    assert Store(tmp_path / "h.db").version == 1
    with pytest.raises(CalmlineError, match="is a directory"):
        Store(tmp_path)


def test_tokens_are_stored_only_as_hashes(hub):
    store, tokens = hub
    stored = [r[0] for r in store.query("SELECT token_hash FROM users")]
    assert tokens["sue"] not in stored and authenticate(store, tokens["sue"]).role == "supervisor"


def test_privacy_filter_keeps_operator_cues_on_the_operator_screen():
    bus = EventBus("p")
    seen = []
    bus.subscribe(lambda e: seen.append((e.type, e.speaker, is_private(e))))
    bus.emit("level", 1.0, "operator", dbfs=-30.0, short_term_dbfs=-30.0, baseline_dbfs=-30.0)
    bus.emit("level", 1.0, "customer", dbfs=-30.0, short_term_dbfs=-30.0, baseline_dbfs=-30.0)
    bus.emit("raised_voice", 2.0, "operator", t_detected=2.3, db_over_baseline=9.0)
    bus.emit("prompt", 2.3, "operator", id="b@2", prompt="breathe.hold", kind="breathe", priority=80,
             title="t", body="b", why={}, ttl=30, private=True)
    bus.emit("prompt", 2.3, "operator", id="p@2", prompt="plan.legal", kind="plan", priority=70,
             title="t", body="b", why={}, ttl=15)
    assert [p for *_, p in seen] == [True, False, True, True, False]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_publish_survives_a_hub_restart_with_no_loss_and_no_duplicates(hub, tmp_path):
    store, tokens = hub
    port = free_port()
    server = WebServer(create_hub_app(store), "127.0.0.1", port)
    server.start()
    bus = EventBus("restart-call")
    publisher = HubPublisher(f"http://127.0.0.1:{port}", tokens["olga"], "restart-call",
                             spool_dir=tmp_path / "spool", retry_max_s=0.3)
    bus.subscribe(publisher)

    def emit(n, start):
        for k in range(start, start + n):
            bus.emit("silence", float(k), t_detected=float(k) + 5)

    emit(50, 0)
    deadline = time.time() + 10
    while store.max_seq("restart-call") < 49 and time.time() < deadline:
        time.sleep(0.05)
    server.stop()                                    # the hub goes away mid-call
    emit(50, 50)                                     # ... the call carries on, spooling
    time.sleep(0.5)
    assert publisher.stats()["hub"]["pending"] > 0
    server = WebServer(create_hub_app(store), "127.0.0.1", port)
    server.start()                                   # the hub is back
    stats = publisher.close(timeout=15)
    server.stop()
    assert stats["hub"]["pending"] == 0
    seqs = [e["seq"] for e in store.events("restart-call")]
    assert seqs == list(range(100))                  # every event, once
    assert not list((tmp_path / "spool").glob("*.jsonl"))   # delivered spool removed


def test_a_spool_left_by_an_earlier_run_is_resent(hub, tmp_path):
    store, tokens = hub
    port = free_port()
    # first run: the hub is down for the whole call
    bus = EventBus("offline-call")
    publisher = HubPublisher(f"http://127.0.0.1:{port}", tokens["olga"], "offline-call",
                             spool_dir=tmp_path / "spool", retry_max_s=0.2)
    bus.subscribe(publisher)
    for k in range(20):
        bus.emit("silence", float(k), t_detected=float(k) + 5)
    assert publisher.close(timeout=0.5)["hub"]["pending"] == 20
    # next run, hub up: the old call goes out too
    server = WebServer(create_hub_app(store), "127.0.0.1", port)
    server.start()
    later = HubPublisher(f"http://127.0.0.1:{port}", tokens["olga"], "next-call",
                         spool_dir=tmp_path / "spool", retry_max_s=0.2)
    assert later.close(timeout=10)["hub"]["pending"] == 0
    server.stop()
    assert [e["seq"] for e in store.events("offline-call")] == list(range(20))


def test_a_refused_line_does_not_block_the_lines_after_it(hub, tmp_path):
    store, tokens = hub
    seed_call(store, "taken", operator="omar")
    port = free_port()
    server = WebServer(create_hub_app(store), "127.0.0.1", port)
    server.start()
    spool = tmp_path / "spool"
    # an earlier run left a spool for a call id another operator owns
    blocked = HubPublisher(f"http://127.0.0.1:{port}", tokens["olga"], "taken", spool_dir=spool)
    bus = EventBus("taken")
    bus.subscribe(blocked)
    bus.emit("silence", 1.0, t_detected=6.0)
    stats = blocked.close(timeout=10)
    assert stats["hub"]["refused"] == 1 and stats["hub"]["pending"] == 0
    mine = HubPublisher(f"http://127.0.0.1:{port}", tokens["olga"], "mine", spool_dir=spool)
    bus = EventBus("mine")
    bus.subscribe(mine)
    bus.emit("silence", 1.0, t_detected=6.0)
    assert mine.close(timeout=10)["hub"]["pending"] == 0
    server.stop()
    assert store.max_seq("mine") == 0


def test_two_processes_never_share_a_spool(hub, tmp_path):
    store, tokens = hub
    first = HubPublisher("http://127.0.0.1:9", tokens["olga"], "call-a", spool_dir=tmp_path)
    with pytest.raises(CalmlineError, match="already being published"):
        HubPublisher("http://127.0.0.1:9", tokens["olga"], "call-a", spool_dir=tmp_path)
    other = HubPublisher("http://127.0.0.1:9", tokens["olga"], "call-b", spool_dir=tmp_path)
    assert [s.path.name for s in other.spools] == ["call-b.jsonl"]     # call-a is busy: left alone
    first.close(timeout=0.1)
    other.close(timeout=0.1)


def test_summary_and_state_sent_to_the_hub_keep_operator_cues_private():
    bus = EventBus("p")
    out = []
    bus.subscribe(lambda e: out.append(redact(e)))
    bus.emit("state", 5.0, level="tense", previous="calm", reason="operator_raised_voice", score=1.5)
    bus.emit("summary", 60.0, duration=60.0, speakers={
        "operator": {"speech_s": 20.0, "raised_voice_count": 2, "raised_voice_s": 4.0},
        "customer": {"speech_s": 25.0, "raised_voice_count": 1, "raised_voice_s": 3.0}},
        coach={"escalation_timeline": [{"t": 5.0, "level": "tense", "reason": "operator_raised_voice"}],
               "prompts": {"shown": 2, "log": [{"t": 5.0, "kind": "breathe", "title": "x"},
                                               {"t": 9.0, "kind": "plan", "title": "y"}],
                           "by_kind": {"breathe": 1, "plan": 1}, "after_call": ["breathe.after_call"]},
               "incident": {"what_was_done": ["5.0s prompt breathe.hold", "9.0s prompt plan.legal"]}})
    state, summary = out
    assert state is None              # a state change the operator's voice made is not sent at all
    assert "raised_voice_s" not in summary["speakers"]["operator"]
    assert summary["speakers"]["customer"]["raised_voice_s"] == 3.0
    text = json.dumps(summary)
    assert "breathe" not in text and "operator_raised_voice" not in text
    assert summary["coach"]["prompts"]["shown"] == 1
