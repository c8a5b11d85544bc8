"""Publishing to a real hub (in-process): the token is checked at the start, a
spool belongs to the identity that wrote it and is private, a call id is used
once, and the hub's refusals become clear errors with the events kept on disk
(issue 9, items 1, 9 and 11)."""

from __future__ import annotations

import socket
import stat
import time
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.errors import CalmlineError
from monitor.event_bus import EventBus
from monitor.events import read_jsonl
from monitor.hub.app import create_hub_app
from monitor.hub.auth import add_user, revoke_user
from monitor.hub.publisher import HubPublisher
from monitor.hub.serve import HubServer
from monitor.hub.store import Store

ESCALATION = Path(__file__).resolve().parent.parent / "fixtures" / "escalation.flac"
pytestmark = pytest.mark.timeout(90)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Hub:
    def __init__(self, tmp_path: Path) -> None:
        self.store = Store(tmp_path / "hub.db")
        self.tokens = {name: add_user(self.store, name, role) for name, role in
                       (("olga", "operator"), ("omar", "operator"), ("gone", "operator"))}
        revoke_user(self.store, "gone")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = None
        self.server = None

    def start(self) -> "Hub":
        self.app = create_hub_app(self.store)
        self.server = HubServer(self.app, "127.0.0.1", self.port)
        self.server.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


@pytest.fixture()
def hub(tmp_path):
    h = Hub(tmp_path)
    yield h
    h.stop()


def a_call(publisher: HubPublisher, call_id: str, n: int = 5, end: bool = True) -> None:
    bus = EventBus(call_id)
    bus.subscribe(publisher)
    bus.emit("call_start", 0.0, source="test", sample_rate=16000, channels=2, speakers=["operator", "customer"])
    for k in range(n):
        bus.emit("silence", float(k), t_detected=float(k) + 5)
    if end:
        bus.emit("call_end", float(n), duration=float(n))


def run_cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code or 0


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- the blocker, end to end ------------------------------------------------------------------
def test_replay_of_a_stereo_call_to_a_hub_with_a_report_prints_everything(hub, tmp_path, capsys, monkeypatch):
    hub.start()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    report, events = tmp_path / "call.html", tmp_path / "events.jsonl"
    rc = run_cli(["replay", str(ESCALATION), "--no-transcribe", "--no-progress", "--hub", hub.url,
                  "--token", hub.tokens["olga"], "--report", str(report), "--events", str(events)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "internal error" not in err
    assert "escalation.flac: operator, customer" in out and "hub: " in out and "all delivered" in out
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    call_id = read_jsonl(events.read_text(encoding="utf-8").splitlines())[0].call_id
    summary = hub.store.events(call_id)[-1]
    assert summary["type"] == "summary" and "raised_voice_count" not in summary["speakers"]["operator"]


# --- item 11: a refused token, and whose spool is whose -------------------------------------------
@pytest.mark.parametrize("who", ["wrong", "revoked"])
def test_a_refused_token_is_an_error_at_the_start_not_hub_down(hub, tmp_path, who):
    hub.start()
    token = "not-a-token" if who == "wrong" else hub.tokens["gone"]
    started = time.monotonic()
    with pytest.raises(CalmlineError, match="refused the token"):
        HubPublisher(hub.url, token, "refused-call", spool_dir=tmp_path / "spool")
    assert time.monotonic() - started < 10
    assert not [p for p in files_under(tmp_path / "spool") if p.suffix == ".jsonl"]


def test_the_cli_says_a_refused_token_in_one_line_and_exits_2(hub, tmp_path, capsys, monkeypatch):
    hub.start()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    rc = run_cli(["replay", str(ESCALATION), "--no-transcribe", "--hub", hub.url, "--token", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err[-1].startswith("calmline: error: the hub at ") and "refused the token" in err[-1]
    assert not any("Traceback" in line for line in err)


def test_a_token_refused_during_the_call_keeps_the_events_and_says_so(hub, tmp_path):
    hub.start()
    publisher = HubPublisher(hub.url, hub.tokens["omar"], "revoked-mid-call", spool_dir=tmp_path / "spool",
                             retry_max_s=0.2)
    bus = EventBus("revoked-mid-call")
    bus.subscribe(publisher)
    for k in range(4):
        bus.emit("silence", float(k), t_detected=float(k) + 5)
    deadline = time.monotonic() + 10
    while hub.store.max_seq("revoked-mid-call") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    revoke_user(hub.store, "omar")
    hub.stop()                     # every socket dropped; the publisher reconnects with its token
    hub.start()
    for k in range(4, 10):
        bus.emit("silence", float(k), t_detected=float(k) + 5)
    stats = publisher.close(timeout=10)["hub"]
    assert "refused the token during the call" in stats["error"] and stats["pending"] == 6
    assert hub.store.max_seq("revoked-mid-call") == 3
    kept = (publisher.spool.path.read_text().splitlines())
    assert len(kept) == 10                                    # every event still on disk


def test_a_spool_is_sent_only_by_the_identity_that_wrote_it(hub, tmp_path):
    spool = tmp_path / "spool"
    olga = HubPublisher(hub.url, hub.tokens["olga"], "olgas-call", spool_dir=spool, retry_max_s=0.2)
    a_call(olga, "olgas-call")                               # the hub is down: spooled
    assert olga.close(timeout=0.3)["hub"]["pending"] == 7
    hub.start()
    omar = HubPublisher(hub.url, hub.tokens["omar"], "omars-call", spool_dir=spool)
    assert [s.call_id for s in omar.spools] == ["omars-call"]     # olga's spool is not his to send
    a_call(omar, "omars-call")
    assert omar.close(timeout=10)["hub"]["pending"] == 0
    assert hub.store.call("olgas-call") is None
    later = HubPublisher(hub.url, hub.tokens["olga"], "olgas-next-call", spool_dir=spool)
    assert later.close(timeout=10)["hub"]["pending"] == 0
    assert hub.store.call("olgas-call")["operator"] == "olga"
    assert [e["seq"] for e in hub.store.events("olgas-call")] == list(range(7))


def test_spool_folders_are_0700_and_files_0600(hub, tmp_path):
    spool = tmp_path / "state" / "spool"
    publisher = HubPublisher(hub.url, hub.tokens["olga"], "private-files", spool_dir=spool)
    a_call(publisher, "private-files")
    publisher.close(timeout=0.2)                             # the hub is down: everything stays
    folders = [spool] + [p for p in spool.rglob("*") if p.is_dir()]
    files = files_under(spool)
    assert {p.name for p in files} >= {"private-files.jsonl", "private-files.acked", "finished"}
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in folders), folders
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), files
    assert hub.tokens["olga"] not in str(folders)          # named by a hash, never by the token


# --- item 9 (client): a call id names one recording ----------------------------------------------
def test_a_call_id_is_refused_up_front_when_this_pc_already_used_it(hub, tmp_path):
    spool = tmp_path / "spool"
    hub.start()
    first = HubPublisher(hub.url, hub.tokens["olga"], "once", spool_dir=spool)
    a_call(first, "once")
    assert first.close(timeout=10)["hub"]["pending"] == 0
    with pytest.raises(CalmlineError, match="already used"):
        HubPublisher(hub.url, hub.tokens["olga"], "once", spool_dir=spool)
    hub.stop()
    left = HubPublisher(hub.url, hub.tokens["olga"], "left-over", spool_dir=spool)
    a_call(left, "left-over", end=False)                      # crashed mid-call, hub down
    left.close(timeout=0.2)
    with pytest.raises(CalmlineError, match="waiting"):
        HubPublisher(hub.url, hub.tokens["olga"], "left-over", spool_dir=spool)


def test_the_hub_refusing_a_reused_call_id_is_an_error_and_the_events_stay_on_disk(hub, tmp_path):
    hub.start()
    first = HubPublisher(hub.url, hub.tokens["olga"], "reused", spool_dir=tmp_path / "pc-a")
    a_call(first, "reused", n=4)
    first.close(timeout=10)
    stored = hub.store.events("reused")
    other_pc = HubPublisher(hub.url, hub.tokens["olga"], "reused", spool_dir=tmp_path / "pc-b")
    a_call(other_pc, "reused", n=9)
    stats = other_pc.close(timeout=10)["hub"]
    assert "refused call 'reused'" in stats["error"] and stats["pending"] == 0
    (kept,) = other_pc.set_aside
    assert kept.name == "reused.jsonl.refused" and len(kept.read_text().splitlines()) == 11
    assert hub.store.events("reused") == stored              # nothing merged into the first recording
    again = HubPublisher(hub.url, hub.tokens["olga"], "next", spool_dir=tmp_path / "pc-b")
    assert [s.call_id for s in again.spools] == ["next"]      # a refused spool is never resent
    again.close(timeout=5)


def test_the_cli_turns_the_hubs_refusal_into_one_line_and_exit_2(hub, tmp_path, capsys, monkeypatch):
    hub.start()
    argv = ["replay", str(ESCALATION), "--no-transcribe", "--no-progress", "--hub", hub.url,
            "--token", hub.tokens["olga"], "--call-id", "training-17"]
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "pc-a"))
    assert run_cli(argv) == 0
    capsys.readouterr()
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "pc-b"))
    events = tmp_path / "second.jsonl"
    assert run_cli(argv + ["--events", str(events)]) == 2
    out, err = capsys.readouterr()
    assert "escalation.flac: operator, customer" in out       # the summary is still printed
    last = err.strip().splitlines()[-1]
    assert last.startswith("calmline: error: the hub refused call 'training-17'") and ".refused" in last
    assert read_jsonl(events.read_text(encoding="utf-8").splitlines())[-1].type == "summary"


def test_lines_the_hub_rate_limits_are_resent_not_lost(hub, tmp_path):
    from monitor.hub.limits import Limiter, PublishLimits

    hub.start()
    hub.app.state.hub.limiter = Limiter(PublishLimits(events_per_s=100.0, burst=10.0))
    publisher = HubPublisher(hub.url, hub.tokens["olga"], "busy-call", spool_dir=tmp_path / "spool",
                             retry_max_s=0.5)
    a_call(publisher, "busy-call", n=60)
    stats = publisher.close(timeout=30)["hub"]
    assert stats["rate_limited"] > 0                          # the hub did ask to slow down
    assert stats["pending"] == 0 and stats["refused"] == 0 and "error" not in stats
    assert [e["seq"] for e in hub.store.events("busy-call")] == list(range(62))
