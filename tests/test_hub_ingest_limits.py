"""The hub's ingest under attack: strict numbers, checked messages, abuse limits,
bounded reads, one recording per call id, and revocation closing open sockets.

Every message a publisher sends gets exactly one reply; a refused one says why
in ``refused`` (for people) and ``reason`` (for programs), and the connection
stays open.
"""

import base64
import json
import math
import sqlite3
import time
import tracemalloc
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from monitor.hub.app import create_hub_app
from monitor.hub.auth import add_user, revoke_user
from monitor.hub.store import Store


@pytest.fixture()
def hub(tmp_path):
    store = Store(tmp_path / "hub.db")
    tokens = {name: add_user(store, name, role) for name, role in
              (("sue", "supervisor"), ("olga", "operator"), ("omar", "operator"))}
    return store, tokens


@pytest.fixture()
def connect():
    """A test client on one event loop for all its sockets (as the real server has)."""
    opened = []

    def make(app):
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        return client
    yield make
    for client in opened:
        client.__exit__(None, None, None)


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def strict(text):
    """What a browser's JSON.parse accepts: no NaN, no Infinity."""
    def bad(name):
        raise AssertionError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=bad)


def ev(call_id, seq, type="silence", t=1.0, wall=1.0, **fields):
    if type == "silence":
        fields.setdefault("t_detected", t + 5.0)
    return {"v": 1, "type": type, "call_id": call_id, "seq": seq, "t": t, "wall": wall, **fields}


def msg(call_id, event, kind="event"):
    return json.dumps({"kind": kind, "call_id": call_id, "event": event})


def send(ws, text):
    ws.send_text(text)
    return ws.receive_json()


def published(client, token):
    return client.websocket_connect("/ws/publish", headers=auth(token))


def stored(store, call_id):
    return [e["seq"] for e in store.events(call_id)]


# --- issue 9 item 3: non-finite numbers -------------------------------------------------------

@pytest.mark.parametrize("raw", ['"t":1e999', '"t":NaN', '"t":Infinity', '"t":-Infinity',
                                 '"t":1,"why":{"score":1e400}'])
def test_non_finite_numbers_are_refused_and_every_dashboard_stays_readable(connect, hub, raw):
    store, tokens = hub
    client = connect(create_hub_app(store))
    text = ('{"kind":"event","call_id":"c1","event":{"v":1,"type":"silence","call_id":"c1","seq":0,'
            f'"wall":0,"t_detected":1,{raw}}}}}')
    with published(client, tokens["olga"]) as ws:
        reply = send(ws, text)
        assert reply["reason"] == "non_finite" and "finite" in reply["refused"]
        assert send(ws, msg("c1", ev("c1", 0)))["seq"] == 0            # the connection is kept
    assert stored(store, "c1") == [0]
    calls = client.get("/api/calls", params={"all": "true"}, headers=auth(tokens["sue"]))
    assert calls.status_code == 200 and math.isfinite(strict(calls.text)["calls"][0]["duration"])
    with client.websocket_connect("/ws/dashboard", headers=auth(tokens["sue"])) as dash:
        assert [c["id"] for c in strict(dash.receive_text())["calls"]] == ["c1"]


def test_a_database_poisoned_before_the_checks_still_serves_strict_json(connect, hub):
    store, tokens = hub
    store.ensure_call("old", "olga", time.time())
    # as an older hub stored `"t": 1e999`: an infinite duration and an event body with Infinity
    store.execute("UPDATE calls SET duration = ? WHERE id = 'old'", (float("inf"),))
    store.execute("INSERT INTO events (call_id, seq, type, t, speaker, body, received_at) VALUES "
                  "('old', 0, 'silence', 0, NULL, ?, 0)",
                  ('{"v":1,"type":"silence","call_id":"old","seq":0,"t":Infinity,"wall":0,"t_detected":1}',))
    client = connect(create_hub_app(store))
    for path in ("/api/calls?all=true", "/api/calls/old"):
        r = client.get(path, headers=auth(tokens["sue"]))
        assert r.status_code == 200, path
        strict(r.text)
    assert client.get("/api/calls/old/report", headers=auth(tokens["sue"])).status_code == 200


@pytest.mark.parametrize("since", ["inf", "nan", "-inf", "1e999"])
def test_the_api_refuses_non_finite_numbers(connect, hub, since):
    store, tokens = hub
    client = connect(create_hub_app(store))
    r = client.get("/api/calls", params={"since": since}, headers=auth(tokens["sue"]))
    assert r.status_code == 422 and "finite" in r.text


def test_out_of_range_ids_in_the_api_are_refused_not_a_server_error(connect, hub):
    store, tokens = hub
    client = connect(create_hub_app(store))
    assert client.get(f"/api/clips/{2**70}/audio", headers=auth(tokens["sue"])).status_code == 422
    assert client.get(f"/api/calls/x?after_seq={2**70}", headers=auth(tokens["sue"])).status_code == 422


# --- issue 9 item 9: what one message may carry ----------------------------------------------

@pytest.mark.parametrize("seq", [1.9, True, "3", -1, 2**63, 10**30, None])
def test_a_bad_seq_is_refused_and_the_connection_kept(connect, hub, seq):
    store, tokens = hub
    client = connect(create_hub_app(store))
    with published(client, tokens["olga"]) as ws:
        reply = send(ws, msg("c1", ev("c1", seq)))
        assert reply["kind"] == "ack" and reply["reason"] == "bad_seq", reply
        assert send(ws, msg("c1", ev("c1", 1)))["seq"] == 1
    assert stored(store, "c1") == [1]


def test_an_event_for_another_call_than_its_message_says_is_refused(connect, hub):
    store, tokens = hub
    client = connect(create_hub_app(store))
    with published(client, tokens["olga"]) as ws:
        assert send(ws, msg("mine", ev("theirs", 0)))["reason"] == "call_id_mismatch"
        assert send(ws, msg("mine", ev("mine", 0)))["seq"] == 0
    assert stored(store, "mine") == [0] and store.call("theirs") is None


def test_an_unknown_message_kind_gets_a_reply(connect, hub):
    store, tokens = hub
    client = connect(create_hub_app(store))
    with published(client, tokens["olga"]) as ws:
        reply = send(ws, json.dumps({"kind": "delete_everything", "call_id": "c1"}))
        assert reply["reason"] == "unknown_kind" and reply["call_id"] == "c1"
        assert send(ws, msg("c1", ev("c1", 0)))["seq"] == 0


@pytest.mark.parametrize("event_patch, reason", [
    ({"type": "no_such_type"}, "bad_event"),
    ({"type": "utterance"}, "bad_event"),                              # lacks its fields
    ({"type": "state", "level": "furious"}, "bad_event"),
    ({"speaker": "the boss"}, "bad_event"),
    ({"v": 2}, "bad_event"),
    ({"t": "soon"}, "bad_event"),
    ({"t": 10 * 86400 * 365}, "bad_event"),
    ({"type": "summary", "duration": 5.0, "coach": ["not", "an", "object"]}, "bad_event"),
    ({"nested": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}, "bad_event"),
    ({"big": 2**64}, "bad_event"),
])
def test_events_that_do_not_follow_the_schema_are_refused_without_closing(connect, hub, event_patch, reason):
    store, tokens = hub
    client = connect(create_hub_app(store))
    with published(client, tokens["olga"]) as ws:
        assert send(ws, msg("c1", ev("c1", 0) | event_patch))["reason"] == reason
        assert send(ws, msg("c1", ev("c1", 1)))["seq"] == 1
    assert stored(store, "c1") == [1]


def test_sizes_are_bounded_utterance_text_call_id_and_message(connect, hub):
    store, tokens = hub
    client = connect(create_hub_app(store))
    utterance = dict(type="utterance", t_end=3.0, language="en", avg_logprob=-0.2, no_speech_prob=0.0)
    with published(client, tokens["olga"]) as ws:
        assert "seq" in send(ws, msg("c1", ev("c1", 0, text="fine " * 300, **utterance)))
        reply = send(ws, msg("c1", ev("c1", 1, text="x" * 10_000, **utterance)))
        assert reply["reason"] == "too_large" and "seq" in reply
        reply = send(ws, msg("c1", ev("c1", 2, text="x" * (10 * 1024 * 1024), **utterance)))
        assert reply["reason"] == "too_large"                          # a 10 MB utterance
        for call_id in ("x" * 129, "x" * (1024 * 1024), "a b", "../etc", "", "é", 42):
            reply = send(ws, msg(call_id, ev(call_id, 0)))
            assert reply["reason"] == "bad_call_id" and "call_id" not in reply
        ok = "op-20250101-120000-pc-1a2b3c.x:1_" + "y" * 95
        assert len(ok) == 128 and send(ws, msg(ok, ev(ok, 0)))["seq"] == 0
    assert stored(store, "c1") == [0]
    assert {r[0] for r in store.query("SELECT id FROM calls")} == {"c1", ok}


def clip_msg(call_id, audio_b64, **over):
    return json.dumps({"kind": "clip", "call_id": call_id, "t_start": 1.0, "t_end": 3.0,
                       "reason": "abuse", "sample_rate": 16000, "audio_b64": audio_b64} | over)


@pytest.mark.parametrize("audio_b64, over", [
    ("not base64 at all!!", {}),
    ("AAA", {}),                                      # bad padding
    ("", {}),                                         # a 0-byte clip
    (base64.b64encode(b"\0").decode(), {}),           # not 16-bit samples
    (base64.b64encode(b"\0\0" * 16000 * 10).decode(), {}),   # 10 s of audio in a 2 s clip
    (base64.b64encode(b"\0\0" * 100).decode(), {"sample_rate": 10**12}),
    (base64.b64encode(b"\0\0" * 100).decode(), {"t_end": 1e999}),
])
def test_a_bad_clip_is_refused_and_nothing_is_stored(connect, hub, audio_b64, over):
    store, tokens = hub
    client = connect(create_hub_app(store))
    with published(client, tokens["olga"]) as ws:
        reply = send(ws, clip_msg("c1", audio_b64, **over))
        assert reply["kind"] == "clip_ack" and reply["refused"], reply
        good = send(ws, clip_msg("c1", base64.b64encode(b"\1\0" * 32000).decode()))
        assert good["kind"] == "clip_ack" and "refused" not in good
    rows = store.query("SELECT length(audio) FROM clips WHERE call_id = 'c1'")
    assert [r[0] for r in rows] == [64000]


def test_a_call_keeps_a_bounded_number_of_clips(connect, hub, monkeypatch):
    from monitor.hub import validate

    monkeypatch.setattr(validate, "MAX_CLIPS_PER_CALL", 3)
    store, tokens = hub
    client = connect(create_hub_app(store))
    audio = base64.b64encode(b"\1\0" * 1600).decode()
    with published(client, tokens["olga"]) as ws:
        replies = [send(ws, clip_msg("c1", audio, t_start=float(k), t_end=k + 0.5)) for k in range(5)]
        assert [r.get("reason") for r in replies] == [None, None, None, "too_many_clips", "too_many_clips"]
        assert "refused" not in send(ws, clip_msg("c1", audio, t_start=1.0, t_end=1.5))   # a resend
    assert len(store.clips("c1")) == 3


def test_a_supervisor_token_cannot_publish_into_an_operators_call(connect, hub):
    store, tokens = hub
    client = connect(create_hub_app(store))
    with published(client, tokens["olga"]) as ws:
        assert send(ws, msg("c1", ev("c1", 0)))["seq"] == 0
    with pytest.raises(WebSocketDisconnect) as exc:
        with published(client, tokens["sue"]) as ws:
            send(ws, msg("c1", ev("c1", 1)))
    assert exc.value.code == 4403
    assert stored(store, "c1") == [0] and store.call("c1")["operator"] == "olga"


# --- issue 9 item 9: one recording per call id ------------------------------------------------

def recording(call_id, wall0):
    """A short recording's events, as its bus would number them."""
    return [ev(call_id, 0, "call_start", t=0.0, wall=wall0, source="x", sample_rate=16000,
               speakers=["operator", "customer"], channels=2),
            ev(call_id, 1, t=2.0, wall=wall0 + 2.0),
            ev(call_id, 2, "prompt", t=2.5, wall=wall0 + 2.5, id="plan.x@2.5", kind="plan", priority=70,
               title="t", body="b", why={}, ttl=15),
            ev(call_id, 3, "call_end", t=9.0, wall=wall0 + 9.0, duration=9.0),
            ev(call_id, 4, "summary", t=9.0, wall=wall0 + 9.1, duration=9.0),
            ev(call_id, 5, "prompt_ack", t=9.0, wall=wall0 + 12.0, prompt_id="plan.x@2.5", action="used")]


def test_reusing_a_call_id_for_a_second_recording_is_refused_not_merged(connect, hub):
    store, tokens = hub
    client = connect(create_hub_app(store))
    first, second = recording("c1", 0.0), recording("c1", 0.5)
    with published(client, tokens["olga"]) as ws:
        for e in first:                       # the summary and the after-call ack follow call_end
            assert "refused" not in send(ws, msg("c1", e))
        for e in first:                       # a publisher resending after a lost ack
            assert "refused" not in send(ws, msg("c1", e))
    with published(client, tokens["olga"]) as ws:
        replies = [send(ws, msg("c1", e)) for e in second]
        assert {r["reason"] for r in replies} == {"seq_conflict"}
        assert all(r["call_id"] == "c1" for r in replies)
        later = send(ws, msg("c1", ev("c1", 6, t=20.0, wall=20.0)))
        assert later["reason"] == "call_ended" and later["seq"] == 6
        summary = send(ws, msg("c1", ev("c1", 7, "summary", t=20.0, wall=20.0, duration=20.0)))
        assert summary["reason"] == "call_ended"          # a call has one summary
    assert store.events("c1") == first


# --- issue 9 item 4: abuse limits --------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_publishing_over_the_rate_is_refused_counted_and_the_connection_kept(connect, hub):
    from monitor.hub.limits import Limiter, PublishLimits

    store, tokens = hub
    app = create_hub_app(store)
    clock = FakeClock()
    app.state.hub.limiter = Limiter(PublishLimits(events_per_s=4.0, burst=5), clock)
    client = connect(app)
    with published(client, tokens["olga"]) as ws, published(client, tokens["omar"]) as other:
        replies = [send(ws, msg("flood", ev("flood", k))) for k in range(8)]
        assert [r.get("reason") for r in replies] == [None] * 5 + ["rate_limited"] * 3
        assert all(0 < r["retry_after_s"] <= 0.25 and r["seq"] == k
                   for k, r in enumerate(replies) if "refused" in r)
        assert send(other, msg("calm", ev("calm", 0)))["seq"] == 0      # another operator is not limited
        clock.now += 0.75                                                # three tokens later
        assert [send(ws, msg("flood", ev("flood", k))).get("reason") for k in (5, 6, 7, 8)] == \
            [None, None, None, "rate_limited"]
    assert stored(store, "flood") == list(range(8))
    stats = client.get("/api/limits", headers=auth(tokens["sue"])).json()
    assert stats["refused"]["by_reason"] == {"rate_limited": 4}
    assert stats["refused"]["by_user"] == {"olga": 4}
    assert client.get("/api/limits", headers=auth(tokens["olga"])).status_code == 403


def test_one_operator_cannot_start_calls_without_end(connect, hub):
    from monitor.hub.limits import Limiter, PublishLimits

    store, tokens = hub
    app = create_hub_app(store)
    clock = FakeClock()
    app.state.hub.limiter = Limiter(PublishLimits(new_calls_per_s=0.5, new_calls_burst=2), clock)
    client = connect(app)
    with published(client, tokens["olga"]) as ws:
        assert [send(ws, msg(c, ev(c, 0))).get("reason") for c in ("a", "b", "c")] == [None, None, "rate_limited"]
        assert send(ws, msg("a", ev("a", 1))).get("reason") is None        # an open call goes on
        clock.now += 2.0
        assert send(ws, msg("c", ev("c", 0))).get("reason") is None
    assert {r[0] for r in store.query("SELECT id FROM calls")} == {"a", "b", "c"}


def test_a_large_message_that_is_not_a_clip_is_refused_before_parsing(connect, hub):
    store, tokens = hub
    client = connect(create_hub_app(store))
    with published(client, tokens["olga"]) as ws:
        bomb = '{"kind":"clip","call_id":"c1","t_start":0,"pad":[' + "[]," * 300_000 + '[]]}'
        assert send(ws, bomb)["reason"] == "too_large"
        audio = base64.b64encode(b"\1\0" * 16000 * 9).decode()             # 9 s: 384 kB of base64
        reply = send(ws, clip_msg("c1", audio, t_start=0.0, t_end=9.0))
        assert reply["kind"] == "clip_ack" and "refused" not in reply
    assert len(store.clips("c1")) == 1


def test_calls_lists_are_bounded(connect, hub):
    store, tokens = hub
    for k in range(30):
        store.ensure_call(f"c{k:02d}", "olga", time.time() - k)
    client = connect(create_hub_app(store))
    get = lambda **q: client.get("/api/calls", params={"all": "true", **q}, headers=auth(tokens["sue"]))  # noqa: E731
    page = get(limit=10).json()
    assert len(page["calls"]) == 10 and page["truncated"] is True
    assert {c["id"] for c in page["calls"]} == {f"c{k:02d}" for k in range(10)}   # the most recent
    whole = get().json()
    assert len(whole["calls"]) == 30 and whole["truncated"] is False
    assert get(limit=100_000).status_code == 422


def test_the_default_rate_is_far_above_a_real_call():
    from monitor.hub.limits import DEFAULT

    # a live call publishes ~10-25 events a second; a replay of a 5-minute call ~4,000 at once
    assert DEFAULT.events_per_s >= 8 * 25 and DEFAULT.burst >= 4000


def test_publish_connections_per_user_are_bounded(connect, hub):
    from monitor.hub.limits import Limiter, PublishLimits

    store, tokens = hub
    app = create_hub_app(store)
    app.state.hub.limiter = Limiter(PublishLimits(sockets_per_user=2))
    client = connect(app)
    with published(client, tokens["olga"]) as a, published(client, tokens["olga"]) as b:
        assert send(a, msg("c1", ev("c1", 0)))["seq"] == 0 and send(b, msg("c2", ev("c2", 0)))["seq"] == 0
        with pytest.raises(WebSocketDisconnect) as exc:
            with published(client, tokens["olga"]) as c:
                c.receive_text()
        assert exc.value.code == 4429
        with published(client, tokens["omar"]) as d:                     # per user
            assert send(d, msg("c3", ev("c3", 0)))["seq"] == 0


@contextmanager
def audio_limited(connect, hub, burst_bytes):
    """Olga publishing call "live" to a hub whose audio limits are 1000 bytes/s,
    ``burst_bytes`` of burst and 1000-byte frames, on a fake clock, with Sue
    listening: (app, clock, publisher socket, listener socket)."""
    from monitor.hub.limits import Limiter, PublishLimits

    store, tokens = hub
    app = create_hub_app(store)
    clock = FakeClock()
    app.state.hub.limiter = Limiter(PublishLimits(audio_bytes_per_s=1000.0, audio_burst_bytes=burst_bytes,
                                                  audio_frame_bytes=1000), clock)
    client = connect(app)
    with published(client, tokens["olga"]) as pub:
        assert send(pub, msg("live", ev("live", 0)))["seq"] == 0
        with client.websocket_connect("/ws/listen/live", headers=auth(tokens["sue"])) as ear:
            assert pub.receive_json()["on"] is True
            yield app, clock, pub, ear


def test_live_audio_frames_are_bounded_and_drops_counted(connect, hub):
    with audio_limited(connect, hub, 2000.0) as (app, clock, pub, ear):
        pub.send_bytes(b"\1" * 4000)                  # over the frame limit: dropped
        for k in range(3):                            # the third is over the byte rate
            pub.send_bytes(bytes([k + 2]) * 1000)
        assert send(pub, msg("live", ev("live", 1)))["seq"] == 1     # the frames before it are handled
        assert ear.receive_bytes() == b"\2" * 1000
        assert ear.receive_bytes() == b"\3" * 1000
        clock.now += 1.0
        pub.send_bytes(b"\7" * 1000)
        assert ear.receive_bytes() == b"\7" * 1000    # the dropped frames never arrived
    assert app.state.hub.limiter.audio_dropped == 2


def test_floods_of_tiny_audio_frames_are_bounded_too(connect, hub):
    with audio_limited(connect, hub, 2048.0) as (app, clock, pub, ear):
        for k in range(6):                    # 10 bytes each, but each costs 512
            pub.send_bytes(bytes([k + 1]) * 10)
        assert send(pub, msg("live", ev("live", 1)))["seq"] == 1
        assert [ear.receive_bytes()[0] for _ in range(4)] == [1, 2, 3, 4]
    assert app.state.hub.limiter.audio_dropped == 2


def seed_many(store, call_id, n, utterance_every=1):
    store.ensure_call(call_id, "olga", time.time())
    rows = []
    for k in range(n):
        kind = "utterance" if k % utterance_every == 0 else "level"
        e = ev(call_id, k, kind, t=k * 0.1, wall=k * 0.1, speaker="customer",
               dbfs=-30.0, short_term_dbfs=-31.0, baseline_dbfs=-33.0) if kind == "level" else \
            ev(call_id, k, kind, t=k * 0.1, wall=k * 0.1, speaker="customer", t_end=k * 0.1 + 1,
               text=f"utterance number {k}", language="en", avg_logprob=-0.2, no_speech_prob=0.0)
        rows.append((call_id, k, kind, e["t"], "customer", json.dumps(e), 0.0))
    with sqlite3.connect(store.path) as db:
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", rows)


def test_call_details_come_in_pages(connect, hub):
    store, tokens = hub
    seed_many(store, "long", 2500, utterance_every=2)
    client = connect(create_hub_app(store))
    first = client.get("/api/calls/long", headers=auth(tokens["sue"])).json()
    assert 0 < len(first["events"]) <= 500 and first["next_after_seq"] == first["events"][-1]["seq"]
    seqs, after = [], -1
    while after is not None:
        page = client.get("/api/calls/long", params={"after_seq": after, "limit": 1000},
                          headers=auth(tokens["sue"])).json()
        assert len(page["events"]) <= 1000
        seqs += [e["seq"] for e in page["events"]]
        after = page["next_after_seq"]
    assert seqs == list(range(2500))
    assert client.get("/api/calls/long", params={"limit": 100_000},
                      headers=auth(tokens["sue"])).status_code == 422


def test_reading_a_huge_call_does_not_balloon_memory(connect, hub):
    import monitor.report.html  # noqa: F401  (imported before measuring)

    store, tokens = hub
    seed_many(store, "huge", 60_000, utterance_every=100)    # mostly level readings, as a real call
    client = connect(create_hub_app(store))
    client.get("/api/me", headers=auth(tokens["sue"]))      # warm up (the first request)
    tracemalloc.start()
    try:
        for path in ("/api/calls/huge", "/api/calls/huge/report"):
            tracemalloc.reset_peak()
            r = client.get(path, headers=auth(tokens["sue"]))
            assert r.status_code == 200
            _, peak = tracemalloc.get_traced_memory()
            # every event as a Python object is ~80 MB; a page, or the report's
            # thinned level meter and its text, a few MB
            assert peak < 24 * 1024 * 1024, (path, peak)
    finally:
        tracemalloc.stop()
    assert "utterance number 59900" in r.text                   # the report still has every line


# --- issue 9 item 7: revocation closes open sockets ------------------------------------------

def test_the_socket_registry_forgets_sockets_whose_route_ended():
    import asyncio
    import gc

    from monitor.hub.auth import User
    from monitor.hub.sockets import Sockets

    class Socket:                              # a route's socket, never marked disconnected
        pass

    async def scenario():
        registry = Sockets(store=None, check_s=60.0)
        ws = Socket()
        registry.add(ws, "token", User("sue", "supervisor"), "/ws/dashboard")
        assert registry.count("sue", "/ws/dashboard") == 1
        del ws
        gc.collect()
        assert registry.count("sue", "/ws/dashboard") == 0
        registry._task.cancel()

    asyncio.run(scenario())



def test_revoking_a_token_closes_its_open_sockets(hub):
    import contextlib
    import socket as socketlib

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect as ws_connect

    from monitor.web.server import WebServer

    store, tokens = hub
    tokens["sam"] = add_user(store, "sam", "supervisor")
    store.ensure_call("c1", "olga", time.time())
    with socketlib.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = WebServer(create_hub_app(store), "127.0.0.1", port)
    server.start()

    def opened(path, who):
        return stack.enter_context(ws_connect(f"ws://127.0.0.1:{port}{path}",
                                              additional_headers=auth(tokens[who]), open_timeout=5))

    try:
        with contextlib.ExitStack() as stack:
            dash = opened("/ws/dashboard", "sue")
            dash.recv(timeout=5)                                      # the calls snapshot
            ear = opened("/ws/listen/c1", "sue")
            pub = opened("/ws/publish", "olga")
            keep = opened("/ws/dashboard", "sam")
            keep.recv(timeout=5)
            pub.send(msg("c1", ev("c1", 0)))
            assert json.loads(pub.recv(timeout=5)) == {"kind": "listen", "call_id": "c1", "on": True, "by": ""}
            assert json.loads(pub.recv(timeout=5))["seq"] == 0
            # as `calmline hub user revoke` does: another process, another connection
            other = Store(store.path)
            revoke_user(other, "sue")
            revoke_user(other, "olga")
            other.close()
            for ws in (dash, ear, pub):
                with pytest.raises(ConnectionClosed) as exc:
                    while True:                  # bounded: recv times out after 3 s
                        ws.recv(timeout=3)
                assert exc.value.rcvd is not None and exc.value.rcvd.code == 4401
                assert exc.value.rcvd.reason == "token revoked"
            keep.ping().wait(timeout=3)        # an unrevoked supervisor's dashboard stays open
    finally:
        server.stop()
    from monitor.hub import sockets

    assert sockets.CHECK_S <= 0.25               # checked four times a second: closed within 1 s
