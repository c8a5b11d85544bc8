"""A dashboard's first snapshot is bounded: the live calls and the most recent N
ended flagged ones, however many flagged calls the database keeps until purge."""

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from monitor.config import load_config
from monitor.errors import CalmlineError
from monitor.hub.app import create_hub_app
from monitor.hub.auth import add_user
from monitor.hub.state import SNAPSHOT_ENDED_DEFAULT, Hub
from monitor.hub.store import Store

NOW = 1_000_000.0


def call(store, call_id, *, ago, ended=False, flagged=False, state="calm"):
    """A call last active ``ago`` seconds before NOW."""
    at = NOW - ago
    store.ensure_call(call_id, "olga", at)
    store.execute("UPDATE calls SET last_event_at = ?, ended_at = ?, flagged = ?, flags = ?, state = ? "
                  "WHERE id = ?", (at, at if ended else None, int(flagged),
                                   '["abuse"]' if flagged else "[]", state, call_id))


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "hub.db")
    for k in range(3):
        call(s, f"live{k}", ago=10.0 + k, state="tense" if k == 1 else "calm")
    for k in range(30):                                   # a month of flagged calls
        call(s, f"flag{k:02d}", ago=1000.0 + 60 * k, ended=True, flagged=True)
    call(s, "stale-flagged", ago=500.0, flagged=True)     # never ended, silent 500 s: not live
    call(s, "ended-calm", ago=20.0, ended=True)           # ended, not flagged: not on the dashboard
    return s


def test_the_snapshot_holds_the_live_calls_and_the_most_recent_flagged_ones(store):
    got = store.dashboard_calls(5, now=NOW)
    ids = [c["id"] for c in got]
    # live first (most urgent first), then the five most recently active flagged ones
    assert ids == ["live1", "live0", "live2", "stale-flagged", "flag00", "flag01", "flag02", "flag03"]
    assert [c["live"] for c in got] == [True] * 3 + [False] * 5
    assert store.dashboard_calls(0, now=NOW) == [c for c in got if c["live"]]
    # without a bound the same calls, in the same order, as the unbounded list
    every = store.dashboard_calls(1000, now=NOW)
    assert every == store.calls(now=NOW)


def test_live_calls_are_bounded_too(store):
    ids = [c["id"] for c in store.dashboard_calls(0, live_max=2, now=NOW)]
    assert sorted(ids) == ["live0", "live1"]              # the two most recently active


def test_a_dashboard_gets_the_bounded_snapshot(store):
    token = add_user(store, "sue", "supervisor")
    now = time.time()
    store.execute("UPDATE calls SET last_event_at = last_event_at - ? + ?", (NOW, now))
    store.execute("UPDATE calls SET ended_at = last_event_at WHERE ended_at IS NOT NULL")
    with TestClient(create_hub_app(store, snapshot_ended=4)) as client, \
            client.websocket_connect("/ws/dashboard", headers={"Authorization": f"Bearer {token}"}) as ws:
        snap = ws.receive_json()
    assert snap["kind"] == "calls"
    assert [c["id"] for c in snap["calls"]] == ["live1", "live0", "live2", "stale-flagged",
                                                "flag00", "flag01", "flag02"]


def test_the_bound_is_a_setting_with_a_sane_default(tmp_path: Path):
    assert load_config().hub.dashboard_ended_calls == SNAPSHOT_ENDED_DEFAULT == 200
    cfg = tmp_path / "c.toml"
    cfg.write_text("[hub]\ndashboard_ended_calls = 50\n")
    assert load_config(cfg).hub.dashboard_ended_calls == 50
    cfg.write_text("[hub]\ndashboard_ended_calls = -1\n")
    with pytest.raises(CalmlineError, match="dashboard_ended_calls"):
        load_config(cfg)
    with pytest.raises(ValueError):
        Hub(Store(tmp_path / "h.db"), snapshot_ended=-1)


def test_the_hub_command_takes_the_bound_from_the_settings(tmp_path: Path, monkeypatch):
    import socket

    import uvicorn

    from monitor.cli import main

    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(self.config.app))
    cfg = tmp_path / "c.toml"
    cfg.write_text("[hub]\ndashboard_ended_calls = 7\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SystemExit) as exit_:
        main(["hub", "--port", str(port), "--db", str(tmp_path / "h.db"), "--config", str(cfg)])
    assert exit_.value.code in (0, None) and len(served) == 1
    assert served[0].state.hub.snapshot_ended == 7
