"""The coach end to end, with the real bundled model: the escalation fixture
gives the expected prompts in order; the calm fixture gives none."""

from pathlib import Path

import pytest

from audio.channels import map_channels
from audio.file_source import FileSource
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.pipeline import CallInfo, CallPipeline
from monitor.session import build_stages

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def replay(name: str) -> list:
    cfg = load_config(None, {"transcription": {"language": "en"}})
    source = FileSource(FIXTURES / f"{name}.flac")
    cmap = map_channels(source.info.channels, None)
    bus = EventBus(name)
    events: list = []
    bus.subscribe(events.append)
    parts = build_stages(cfg, bus, cmap.speakers, transcribe=True, live=False, say=lambda m: None)
    CallPipeline(cfg, bus, CallInfo(name, 16000, 2, cmap), parts.stages).run(source)
    return events


@pytest.fixture(scope="module")
def escalation():
    return replay("escalation")


def first(events, pred):
    return next(i for i, e in enumerate(events) if pred(e))


def test_escalation_call_gives_the_expected_sequence(escalation):
    ev = escalation
    raised = first(ev, lambda e: e.type == "raised_voice" and e.speaker == "customer")
    manager = first(ev, lambda e: e.type == "trigger" and e["category"] == "manager_request")
    legal = first(ev, lambda e: e.type == "trigger" and e["category"] == "legal_threat")
    escalated = first(ev, lambda e: e.type == "state" and e["level"] == "escalated")
    plan = first(ev, lambda e: e.type == "prompt" and e["kind"] == "plan")
    listen = first(ev, lambda e: e.type == "prompt" and e["kind"] == "listen")
    breathe = first(ev, lambda e: e.type == "prompt" and e["kind"] == "breathe")
    assert raised < manager < plan < listen < breathe
    assert raised < legal and manager <= escalated <= plan
    assert ev[listen]["why"]["cue"] == "overlap"
    assert ev[plan]["why"]["quote"] and ev[plan]["why"]["speaker"] == "customer"
    assert ev[breathe]["pacer"]["cycles"] >= 1 and ev[breathe]["private"] is True


def test_never_more_than_three_prompts_a_minute(escalation):
    times = [e.t for e in escalation if e.type == "prompt" and e["why"]["cue"] != "after_escalation"]
    for t in times:
        assert sum(1 for u in times if t <= u < t + 60) <= 3


def test_summary_has_the_coaching_record(escalation):
    coach = next(e for e in escalation if e.type == "summary")["coach"]
    assert coach["peak_state"] in ("escalated", "abusive")
    assert coach["steps"]["empathy"] and coach["steps"]["plan"]
    assert coach["steps"]["listen"] is False                # the operator talked over the customer
    assert "incident" in coach and coach["incident"]["what_happened"]
    assert coach["prompts"]["after_call"]                    # the recovery nudge


def test_calm_call_gives_no_prompt():
    events = replay("calm")
    assert [e for e in events if e.type == "prompt"] == []
    coach = next(e for e in events if e.type == "summary")["coach"]
    assert coach["peak_state"] == "calm" and "incident" not in coach
