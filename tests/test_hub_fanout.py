"""Dashboard fan-out: the newest state per changed call, coalesced per dashboard,
one database read per flush whatever the number of dashboards (issue 9, item 5)."""

import asyncio
import contextlib
import json
import socket
import time

import pytest
from websockets.sync.client import connect

from monitor.events import make_event
from monitor.hub.app import create_hub_app
from monitor.hub.auth import add_user
from monitor.hub.fanout import Fanout
from monitor.hub.serve import HubServer
from monitor.hub.store import Store


def strict(text):
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"bare {name} in {text[:80]}"))


class FakeCalls:
    """The database as the fan-out sees it: call states by id; counts the reads."""

    def __init__(self):
        self.states = {}
        self.reads = 0

    def set(self, call_id, **state):
        self.states[call_id] = {"id": call_id, "state": "calm", "duration": 0.0} | state

    def __call__(self, ids):
        self.reads += 1
        return [dict(self.states[i]) for i in ids if i in self.states]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=10))


def test_twenty_dashboards_cost_one_database_read_and_one_serialisation_per_flush():
    async def scenario():
        db = FakeCalls()
        fan = Fanout(db, clock=lambda: 1000.0)
        feeds = [fan.add_feed() for _ in range(20)]
        for k in range(30):
            db.set(f"c{k}", duration=float(k))
            fan.changed(f"c{k}")
        fan.flush()
        assert db.reads == 1
        texts = [fan.take(f) for f in feeds]
        assert all(t is not None for t in texts)
        assert fan.stats.shared == 20                  # serialised once, shared by all 20
        msg = strict(texts[0])
        assert msg["kind"] == "update" and msg["sent_ms"] == 1000000.0
        assert sorted(c["call"]["id"] for c in msg["changes"]) == sorted(f"c{k}" for k in range(30))
        assert all(f.dirty == {} for f in feeds) and all(fan.take(f) is None for f in feeds)
    run(scenario())


def test_a_slow_dashboard_skips_to_the_newest_state_and_holds_one_entry_per_call():
    async def scenario():
        db = FakeCalls()
        now = [1.0]
        fan = Fanout(db, clock=lambda: now[0])
        fast, slow = fan.add_feed(), fan.add_feed()
        for flush in range(50):                        # 50 flushes while `slow` sends nothing
            now[0] = 10.0 + flush
            for k in range(3):
                db.set(f"c{k}", duration=float(flush), state=["calm", "tense"][flush % 2])
                fan.changed(f"c{k}")
                fan.changed(f"c{k}")                   # two events per call per flush
            fan.flush()
            assert len(slow.dirty) == 3                # bounded by the calls, not the updates
            got = strict(fan.take(fast))               # the fast one gets every flush
            assert [c["rev"] for c in got["changes"]] == [2 * (flush + 1)] * 3
        msg = strict(fan.take(slow))
        assert len(msg["changes"]) == 3                # one message, one entry per call
        for change in msg["changes"]:
            assert change["call"]["duration"] == 49.0  # the newest state, not a stale one
            assert change["rev"] == 100                # it includes all 100 changes
            assert change["ingested_ms"] == 10000.0    # stale since the first unsent change
        assert fan.stats.coalesced == 49 * 3
        assert db.reads == 50                          # still one read per flush
    run(scenario())


def test_a_state_with_a_non_finite_number_is_left_out_and_counted():
    async def scenario():
        db = FakeCalls()
        fan = Fanout(db)
        feed = fan.add_feed()
        db.set("ok", duration=3.0)
        db.set("bad", duration=float("inf"))           # stored before ingest refused such numbers
        fan.changed("ok")
        fan.changed("bad")
        fan.flush()
        msg = strict(fan.take(feed))
        assert [c["call"]["id"] for c in msg["changes"]] == ["ok"]
        assert fan.stats.unserialisable == 1
        assert [c["id"] for c in strict(fan.snapshot(list(db.states.values())))["calls"]] == ["ok"]
    run(scenario())


def test_no_dashboard_means_no_database_read():
    async def scenario():
        db = FakeCalls()
        fan = Fanout(db)
        db.set("c1")
        fan.changed("c1")
        fan.flush()
        assert db.reads == 0
    run(scenario())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_published_events_reach_every_dashboard_as_the_newest_state_of_each_call(tmp_path):
    store = Store(tmp_path / "hub.db")
    sup, olga = add_user(store, "sue", "supervisor"), add_user(store, "olga", "operator")
    server = HubServer(create_hub_app(store), "127.0.0.1", free_port())
    server.start()
    base = f"ws://127.0.0.1:{server.port}"
    try:
        stack = contextlib.ExitStack()
        boards = [stack.enter_context(connect(f"{base}/ws/dashboard", open_timeout=5,
                                              additional_headers={"Authorization": f"Bearer {sup}"}))
                  for _ in range(3)]
        for b in boards:
            assert strict(b.recv(timeout=5))["kind"] == "calls"
        calls = {"a": 40, "b": 25, "c": 10}
        with connect(f"{base}/ws/publish", additional_headers={"Authorization": f"Bearer {olga}"},
                     open_timeout=5) as pub:
            for call_id, n in calls.items():
                for seq in range(n):
                    event = make_event("silence", call_id=call_id, seq=seq, t=float(seq), wall=float(seq),
                                       t_detected=float(seq) + 5)
                    pub.send(json.dumps({"kind": "event", "call_id": call_id, "event": event.to_dict()}))
            acks = [strict(pub.recv(timeout=5)) for _ in range(sum(calls.values()))]
            assert all(a["kind"] == "ack" and "refused" not in a for a in acks)
        for b in boards:
            seen = {}
            deadline = time.monotonic() + 5
            while seen != calls and time.monotonic() < deadline:
                msg = strict(b.recv(timeout=max(0.01, deadline - time.monotonic())))
                assert msg["kind"] == "update" and msg["sent_ms"] >= max(c["ingested_ms"] for c in msg["changes"])
                ids = [c["call"]["id"] for c in msg["changes"]]
                assert len(ids) == len(set(ids))       # never two states of one call in a message
                for change in msg["changes"]:
                    seen[change["call"]["id"]] = change["rev"]
                    assert change["call"]["duration"] >= change["rev"] - 1   # includes its first rev events
            assert seen == calls                       # every call's newest state arrived
        stack.close()
    finally:
        server.stop()
