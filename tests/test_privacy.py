"""Operator-side cues stay on the operator's PC unless ``share_operator_cues``
is set (issue 9, item 6): the hub's database must hold no trace of the
operator's raised voice, a breathe prompt or what the operator did with it."""

from __future__ import annotations

import json
import socket
import sqlite3
from types import SimpleNamespace

import pytest

from monitor.coaching.coach import Coach
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.hub.app import create_hub_app
from monitor.hub.auth import add_user
from monitor.hub.privacy import PrivacyFilter, public_timeline
from monitor.hub.publisher import HubPublisher
from monitor.hub.serve import HubServer
from monitor.hub.store import Store
from monitor.report.summary import SummaryBuilder

pytestmark = pytest.mark.timeout(60)
SPEAKERS = ["operator", "customer"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def hub(tmp_path):
    store = Store(tmp_path / "hub.db")
    token = add_user(store, "olga", "operator")
    port = free_port()
    server = HubServer(create_hub_app(store), "127.0.0.1", port)
    server.start()
    yield SimpleNamespace(store=store, token=token, url=f"http://127.0.0.1:{port}", db=tmp_path / "hub.db")
    server.stop()


class Call:
    """A call on a bus with the real coach and summary, as the pipeline wires them."""

    def __init__(self, call_id: str, *sinks) -> None:
        self.bus = EventBus(call_id)
        self.events: list = []
        self.coach = Coach(self.bus, load_config().coach)
        self.summary = SummaryBuilder()
        for sink in (self.events.append, self.coach, self.summary, *sinks):
            self.bus.subscribe(sink)
        self.bus.emit("call_start", 0.0, source="test", sample_rate=16000, input_rate=16000,
                      channels=2, speakers=SPEAKERS)

    def levels(self, start: float, end: float, step: float = 1.0) -> None:
        t = start
        while t < end:
            for speaker in SPEAKERS:
                self.bus.emit("level", t, speaker, dbfs=-30.0, short_term_dbfs=-30.0, baseline_dbfs=-31.0)
            t += step

    def raised(self, speaker: str, t: float, length: float = 3.0) -> None:
        self.bus.emit("speech_start", t, speaker, t_detected=t + 0.1)
        self.bus.emit("raised_voice", t, speaker, t_detected=t + 0.3, db_over_baseline=9.5)
        self.bus.emit("raised_voice_end", t, speaker, t_end=t + length, db_over_baseline=9.5)
        self.bus.emit("speech_end", t, speaker, t_end=t + length)

    def said(self, speaker: str, t: float, text: str) -> None:
        self.bus.emit("utterance", t, speaker, t_end=t + 2.0, text=text, language="en",
                      avg_logprob=-0.2, no_speech_prob=0.01)

    def prompts(self, kind: str | None = None) -> list:
        return [e for e in self.events if e.type == "prompt" and (kind is None or e["kind"] == kind)]

    def ack(self, prompt, action: str, t: float) -> None:
        self.bus.emit("prompt_ack", t, "operator", prompt_id=prompt["id"], action=action)

    def end(self, t: float) -> dict:
        self.coach.finish(SimpleNamespace(t=t))
        self.bus.emit("call_end", t, duration=t)
        fields = self.summary.build(**self.coach.stats())
        self.bus.emit("summary", t, **fields)
        return fields


def dump(db) -> str:
    con = sqlite3.connect(db)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def test_an_operator_only_heated_call_leaves_no_trace_of_it_on_the_hub(hub, tmp_path):
    publisher = HubPublisher(hub.url, hub.token, "heated-call", spool_dir=tmp_path / "spool")
    call = Call("heated-call", publisher)
    call.levels(0.0, 6.0)
    call.said("customer", 2.0, "hello, my internet is down again")
    call.raised("operator", 6.0)                            # only the operator raises their voice
    (breathe,) = call.prompts("breathe")                    # the coach offered hold-and-breathe ...
    assert any(e.type == "state" and e["reason"] == "operator_raised_voice" for e in call.events)
    call.ack(breathe, "dismissed", 11.0)                    # ... and the operator dismissed it
    call.levels(11.0, 180.0, step=2.0)                      # the call calms down again
    local = call.end(180.0)
    assert local["coach"]["prompts"]["dismissed"] == 1      # the operator's own summary keeps it
    assert publisher.close(timeout=10)["hub"]["pending"] == 0

    stored = hub.store.events("heated-call")
    assert stored and stored[-1]["type"] == "summary"       # the call itself did reach the hub
    assert [e["seq"] for e in stored] == list(range(len(stored)))   # no gap shows what was withheld
    assert not [e for e in stored if e["type"] in ("prompt", "prompt_ack", "state")]
    assert not [e for e in stored if e.get("speaker") == "operator"
                and e["type"] in ("level", "raised_voice", "raised_voice_end", "speech_start", "speech_end")]
    summary = stored[-1]
    assert set(summary["speakers"]["operator"]) == {"speech_s", "overlaps_started", "monologues", "words"}
    coach = summary["coach"]
    assert coach["escalation_timeline"] == [{"t": 0.0, "level": "calm"}]
    assert coach["peak_state"] == coach["final_state"] == "calm"
    assert coach["prompts"]["shown"] == 0 and coach["prompts"]["log"] == []
    assert coach["prompts"]["dismissed"] == 0 and coach["prompts"]["used"] == 0
    assert "incident" not in coach
    call_row = hub.store.call("heated-call")
    assert call_row["state"] == call_row["peak_state"] == "calm" and not call_row["flagged"]
    everything = dump(hub.db)
    for trace in ("breathe", "operator_raised_voice", "operator cue", "private", breathe["id"], "tense",
                  "db_over_baseline", "suppressed", "Bring your voice down"):
        assert trace not in everything, trace


def test_sharing_operator_cues_sends_them(tmp_path):
    privacy = PrivacyFilter(share_operator_cues=True)
    call = Call("shared")
    out = []
    call.bus.subscribe(lambda e: out.append(privacy(e)))
    call.raised("operator", 6.0)
    (breathe,) = call.prompts("breathe")
    call.ack(breathe, "dismissed", 11.0)
    assert None not in out
    assert [d["type"] for d in out if d["type"] in ("state", "prompt", "prompt_ack")] == [
        "state", "prompt", "prompt_ack"]


def test_a_customer_escalation_reaches_the_hub_without_the_operators_part():
    privacy = PrivacyFilter()
    call = Call("mixed")
    out = []
    call.bus.subscribe(lambda e: out.append(privacy(e)))
    call.levels(0.0, 5.0)
    call.raised("operator", 5.0)                           # the operator's voice: tense, privately
    call.said("customer", 8.0, "I want to speak to your manager right now")
    call.levels(10.0, 400.0, step=5.0)                    # and it all calms down
    local = call.end(400.0)
    states = [d for d in out if d and d["type"] == "state"]
    assert states, "the customer's escalation is shared"
    assert all("score" not in d and d["reason"] != "operator_raised_voice" for d in states)
    previous = "calm"
    for d in states:                                       # a consistent chain of public levels
        assert d["previous"] == previous and d["level"] != previous
        previous = d["level"]
    summary = out[-1]
    timeline = summary["coach"]["escalation_timeline"]
    assert [x["level"] for x in timeline] == ["calm"] + [d["level"] for d in states]
    assert summary["coach"]["final_state"] == previous
    assert local["coach"]["escalation_timeline"][1]["reason"] == "operator_raised_voice"


def test_without_operator_cues_the_hub_gets_the_coaching_summary_as_it_is():
    """The allowlist rebuild loses nothing public: counts, log, acks and override rates agree."""
    privacy = PrivacyFilter()
    call = Call("public")
    out = []
    call.bus.subscribe(lambda e: out.append(privacy(e)))
    call.levels(0.0, 5.0)
    call.said("customer", 5.0, "I want to speak to your manager right now")
    call.said("customer", 40.0, "this is the third time I am calling about this")
    for prompt in call.prompts():
        call.ack(prompt, "used", prompt.t + 1.0)
        call.ack(prompt, "dismissed", prompt.t + 2.0)      # a second ack does not count
    call.levels(45.0, 90.0, step=5.0)
    local = call.end(90.0)
    assert local["coach"]["prompts"]["used"] >= 1
    sent = out[-1]["coach"]
    mine = {k: v for k, v in local["coach"].items()}
    mine["prompts"] = {k: v for k, v in mine["prompts"].items() if k != "suppressed"}
    assert sent == json.loads(json.dumps(mine))


def test_a_flag_clip_for_a_level_the_hub_never_saw_is_not_sent():
    privacy = PrivacyFilter()
    assert privacy.clip_reason("escalated") == ""
    assert privacy.clip_reason("escalated,abuse") == "abuse"
    assert privacy.clip_reason("legal_threat") == "legal_threat"
    assert PrivacyFilter(share_operator_cues=True).clip_reason("escalated") == "escalated"


def test_the_public_timeline_drops_what_the_operators_voice_did():
    timeline = [{"t": 0.0, "level": "calm"},
                {"t": 5.0, "level": "tense", "reason": "operator_raised_voice"},
                {"t": 9.0, "level": "escalated", "reason": "manager_request"},
                {"t": 60.0, "level": "tense", "reason": "decay"},
                {"t": 80.0, "level": "tense", "reason": "operator_raised_voice"},
                {"t": 99.0, "level": "calm", "reason": "decay"}]
    assert [(x["t"], x["level"]) for x in public_timeline(timeline)] == [
        (0.0, "calm"), (9.0, "escalated"), (60.0, "tense"), (99.0, "calm")]
