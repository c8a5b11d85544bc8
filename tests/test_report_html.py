"""The HTML call report (monitor/report/) and ``calmline replay --report``.

No speech model: fixtures are replayed with the transcriber off, and the words
(utterances, triggers, prompts, acknowledgements) are added as hand-made events
that follow the schema.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from audio.channels import map_channels
from audio.file_source import FileSource
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.events import make_event
from monitor.pipeline import CallInfo, CallPipeline
from monitor.report.html import render_report
from monitor.report.timeline import MAX_POINTS
from monitor.session import build_stages

CALMLINE = Path(sys.executable).parent / "calmline"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NASTY = "<script>alert(1)</script>"


def replay(name: str) -> list[dict[str, Any]]:
    """A fixture through the pipeline with the coach and without the transcriber."""
    path = FIXTURES / name
    cfg = load_config()
    source = FileSource(path)
    cmap = map_channels(source.info.channels, cfg.channel_mapping)
    bus = EventBus(path.stem)
    got: list = []
    bus.subscribe(got.append)
    parts = build_stages(cfg, bus, cmap.speakers, transcribe=False, live=False, say=lambda m: None)
    info = CallInfo(str(path), source.info.input_rate, source.info.channels, cmap)
    CallPipeline(cfg, bus, info, parts.stages).run(source)
    return [e.to_dict() for e in got]


def ev(type: str, t: float, speaker: str | None = None, **data: Any) -> dict[str, Any]:
    return make_event(type, call_id="calm", seq=100_000 + int(t * 100), t=t, wall=0.0,
                      speaker=speaker, **data).to_dict()


def words() -> list[dict[str, Any]]:
    """Utterances, triggers, state changes, prompts and acknowledgements of a hot call."""
    u = lambda t, spk, text: ev("utterance", t, spk, t_end=t + 2.0, text=text,  # noqa: E731
                                language="en", avg_logprob=-0.2, no_speech_prob=0.01)
    prompt = lambda t, pid, kind, title: ev(  # noqa: E731
        "prompt", t, "operator", id=pid, prompt=pid.split("@")[0], kind=kind, priority=70,
        title=title, body=f"body of {title}", why={"cue": "manager_request"}, ttl=15.0)
    typed = f"I typed {NASTY} into your form & nothing happens"
    at = typed.index("nothing happens")
    return [
        u(1.0, "operator", "I am sorry to hear that."),
        ev("trigger", 1.0, "operator", category="empathy", id="empathy.apology",
           text="I am sorry", span=[0, 10]),
        u(4.0, "customer", "I want to speak to your manager right now."),
        ev("trigger", 4.0, "customer", category="manager_request", id="manager_request.want",
           text="want to speak to your manager", span=[2, 31]),
        ev("state", 6.0, level="tense", previous="calm", reason="repeat_contact"),
        ev("state", 9.0, level="escalated", previous="tense", reason="manager_request"),
        u(10.0, "customer", typed),
        ev("trigger", 10.0, "customer", category="repeat_contact", id="repeat_contact.no_change",
           text="nothing happens", span=[at, at + 15]),
        ev("trigger", 30.0, "customer", category="legal_threat", id="legal_threat.sue",
           text=f"court {NASTY}", span=[0, 5]),      # no utterance at 30 s: tolerated
        prompt(6.0, "plan.manager@6.00", "plan", "Own the escalation"),
        prompt(12.0, "listen.overlap@12.00", "listen", f"Let them finish {NASTY}"),
        prompt(20.0, "breathe.hold@20.00", "breathe", "Hold and breathe"),
        ev("prompt_ack", 7.0, "operator", prompt_id="plan.manager@6.00", action="used"),
        ev("prompt_ack", 13.0, "operator", prompt_id="listen.overlap@12.00", action="dismissed"),
        ev("utterance_partial", 15.0, "operator", t_end=16.0, text="partial words never shown",
           language="en"),
    ]


INCIDENT = {"peak_state": "escalated",
            "what_happened": ["4.0s customer manager_request: \"want to speak to your manager\""],
            "what_was_done": ["1.0s empathy: \"I am sorry\""],
            "outcome": "call ended escalated"}


def with_summary(events: list[dict[str, Any]], incident: bool) -> list[dict[str, Any]]:
    out = copy.deepcopy(events)
    summary = next(e for e in out if e["type"] == "summary")
    coach = summary["coach"]
    coach.pop("incident", None)
    if incident:
        coach["incident"] = INCIDENT
        coach["peak_state"] = "escalated"
    return out


@pytest.fixture(scope="module")
def calm() -> list[dict[str, Any]]:
    return replay("calm.flac")


@pytest.fixture(scope="module")
def hot(calm: list[dict[str, Any]]) -> str:
    return render_report(with_summary(calm, incident=True) + words())


def svg_of(page: str) -> str:
    match = re.search(r"<svg\b.*?</svg>", page, re.S)
    assert match, "no SVG in the page"
    return match.group(0)


# --------------------------------------------------------------------------- the page

def test_one_self_contained_document(calm: list[dict[str, Any]], hot: str) -> None:
    for page in (render_report(calm), hot):
        assert page.startswith("<!DOCTYPE html>")
        assert page.count("<html") == 1 and page.count("</html>") == 1
        assert page.rstrip().endswith("</html>")
        assert page.count("<svg") == 1
        low = page.lower()
        for ref in ("http://", "https://", "src=", "<link", "@import", "url(http", "<script", "<iframe"):
            assert ref not in low, ref


def test_state_words_are_printed_on_the_band(hot: str, calm: list[dict[str, Any]]) -> None:
    svg = svg_of(hot)
    for word in ("calm", "tense", "escalated"):
        assert re.search(rf">{word}</text>", svg), word
    # without state events the band comes from the summary's timeline
    assert re.search(r">calm</text>", svg_of(render_report(calm)))


def test_transcript_marks_the_trigger_words(hot: str) -> None:
    assert re.search(r'<mark class="[^"]*trg-empathy[^"]*" title="empathy[^"]*">I am sorry</mark>', hot)
    assert re.search(r'<mark class="[^"]*trg-manager_request[^"]*"[^>]*>want to speak to your '
                     r"manager</mark>", hot)
    assert re.search(r"<mark [^>]*>nothing happens</mark>", hot)     # after escaped text
    assert "to hear that." in hot
    # in time order, speaker-labelled, with m:ss
    table = hot[hot.index('class="transcript"'):]
    assert table.index("I am sorry") < table.index("want to speak") < table.index("I typed")
    assert re.search(r'<td class="time">0:04</td><td class="spk">customer</td>', table)
    # the trigger without an utterance is kept; partials are not shown
    assert "legal_threat" in table
    assert "partial words never shown" not in hot


def test_untrusted_text_is_escaped(hot: str) -> None:
    assert NASTY not in hot
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in hot
    assert "&amp; " in hot


def test_loudness_lanes_one_per_speaker(calm: list[dict[str, Any]]) -> None:
    svg = svg_of(render_report(calm))
    lanes = re.findall(r'<g class="lane" data-speaker="([^"]+)"', svg)
    assert lanes == ["operator", "customer"]
    assert svg.count('class="loudness"') == 2
    assert svg.count('class="baseline"') >= 2 and 'stroke-dasharray="5 4"' in svg
    # about two points a second
    duration = next(e for e in calm if e["type"] == "call_end")["duration"]
    points = re.search(r'class="loudness" points="([^"]+)"', svg).group(1).split()
    assert 1.5 * duration <= len(points) <= 2 * duration + 2
    assert ">0:00</text>" in svg and ">0:30</text>" in svg                  # m:ss axis


def test_prompts_with_their_acknowledgement(hot: str) -> None:
    rows = re.findall(r'<tr class="st-([a-z_]+)">(.*?)</tr>', hot, re.S)
    status = {re.search(r"<b>(.*?)</b>", body).group(1): st for st, body in rows}
    assert status["Own the escalation"] == "used"
    assert status["Let them finish &lt;script&gt;alert(1)&lt;/script&gt;"] == "dismissed"
    assert status["Hold and breathe"] == "no_response"
    for counted in ("<dt>used</dt><dd>1</dd>", "<dt>dismissed</dt><dd>1</dd>",
                    "<dt>no response</dt><dd>1</dd>", "listen 100%, plan 0%"):
        assert counted in hot, counted
    svg = svg_of(hot)
    for label in ("plan: used", "listen: dismissed", "breathe: no response"):
        assert f">{label}</text>" in svg


def test_incident_only_when_the_summary_has_one(calm: list[dict[str, Any]], hot: str) -> None:
    assert 'id="incident"' in hot and "What happened" in hot and "call ended escalated" in hot
    plain = render_report(with_summary(calm, incident=False) + words())
    assert 'id="incident"' not in plain and "Incident record" not in plain


def test_coaching_and_summary_sections(hot: str) -> None:
    for text in ("The five steps", "covered", "Harmful phrases", "override rate", "speech",
                 "long silences", "Own the escalation"):
        assert text in hot, text


def test_mono_note_only_for_a_mono_call(calm: list[dict[str, Any]]) -> None:
    mono = render_report(replay("mono.flac"))
    assert "mono recording: call-level cues" in mono
    assert re.findall(r'<g class="lane" data-speaker="([^"]+)"', mono) == ["call"]
    assert "mono recording: call-level cues" not in render_report(calm)


def test_odd_input_does_not_break_the_page() -> None:
    page = render_report([
        {"type": "utterance", "t": 1.0, "speaker": "customer", "text": "hello"},
        {"type": "trigger", "t": 1.0, "speaker": "customer", "category": "x", "id": "x.y",
         "text": "nope", "span": [40, 90]},
        {"type": "level", "t": 0.5, "speaker": "customer", "short_term_dbfs": None,
         "baseline_dbfs": None},
        "not an event", {"no": "type"},
    ])
    assert "hello" in page and "</html>" in page
    assert render_report([]).startswith("<!DOCTYPE html>")


def test_a_two_hour_call_renders_fast() -> None:
    events: list[dict[str, Any]] = [ev("call_start", 0.0, source="long.flac", sample_rate=16000,
                                       speakers=["operator", "customer"], channels=2)]
    for i in range(72_000):
        for spk in ("operator", "customer"):
            events.append({"type": "level", "t": i / 10, "speaker": spk, "dbfs": -30.0,
                           "short_term_dbfs": -30.0 - (i % 7), "baseline_dbfs": -31.0})
    events.append(ev("call_end", 7200.0, duration=7200.0))
    started = time.perf_counter()
    page = render_report(events)
    assert time.perf_counter() - started < 3.0
    for points in re.findall(r'class="loudness" points="([^"]+)"', page):
        assert len(points.split()) <= MAX_POINTS + 1
    assert ">1:00:00</text>" in page


# --------------------------------------------------------------------------- the command

def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CALMLINE), "replay", *args], capture_output=True, text=True,
                          timeout=120)


def test_replay_writes_the_report(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = run(str(FIXTURES / "calm.flac"), "--no-transcribe", "--no-progress", "--report", str(out))
    assert r.returncode == 0, r.stderr
    assert f"report written to {out}" in r.stderr
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "calm.flac" in page


def test_replay_report_to_a_missing_folder_is_a_one_line_error() -> None:
    r = run(str(FIXTURES / "calm.flac"), "--no-transcribe", "--report", "/nonexistent-dir/r.html")
    assert r.returncode == 2
    assert r.stderr.startswith("calmline: error:")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
