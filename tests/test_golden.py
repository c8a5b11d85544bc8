"""Golden tests: every fixture call through the real pipeline, against its
ground truth (``fixtures/<name>.json``, see fixtures/README.md).

Tolerances: raised voice and overlap onsets within 0.25 s of the ground truth,
silence onsets within 0.3 s.  No raised voice outside the expected stretches,
no silence over a short pause, and every spoken segment inside a detected
speech span of its speaker (``call`` in a mono file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audio.channels import map_channels
from audio.file_source import FileSource
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.events import Event
from monitor.pipeline import CallInfo, CallPipeline

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASES = sorted(p.stem for p in FIXTURES.glob("*.json") if p.with_suffix(".flac").exists())

ONSET_TOL = 0.25
SILENCE_TOL = 0.3
INTERNAL_PAUSE_MAX = 0.5   # a gap inside one ground-truth segment (between phrases)
MIN_COVERAGE = 0.75        # of each segment by its speaker's speech spans


def replay(path: Path) -> list[Event]:
    """Run ``path`` through the pipeline (no transcription); all its events."""
    source = FileSource(path)
    cmap = map_channels(source.info.channels, None)
    bus = EventBus(path.stem)
    events: list[Event] = []
    bus.subscribe(events.append)
    info = CallInfo(str(path), source.info.input_rate, source.info.channels, cmap)
    CallPipeline(load_config(), bus, info).run(source)
    return events


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> tuple[dict[str, Any], list[Event]]:
    name = request.param
    truth = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return truth, replay(FIXTURES / f"{name}.flac")


def test_fixture_set_is_complete() -> None:
    assert {"calm", "escalation", "mono", "telephone_8k"} <= set(CASES)


def speaker_of(truth: dict[str, Any], speaker: str) -> str:
    """Ground-truth speaker name as the monitor reports it (``call`` in mono)."""
    return "call" if truth["channel_map"] == ["call"] else speaker


def spans(events: list[Event], end_type: str) -> list[tuple[float, float]]:
    """(start, end) of each span cue, from its ``*_end`` events."""
    return [(e.t, e["t_end"]) for e in events if e.type == end_type]


def test_call_frame(case: tuple[dict[str, Any], list[Event]]) -> None:
    truth, events = case
    assert events[0].type == "call_start" and events[-1].type == "summary"
    assert events[0]["speakers"] == truth["channel_map"]
    assert events[0]["input_rate"] == truth["sample_rate"]
    assert events[-1]["duration"] == pytest.approx(truth["duration"], abs=0.03)
    assert events[-1]["complete"] is True
    assert [e.seq for e in events] == list(range(len(events)))


def test_raised_voice(case: tuple[dict[str, Any], list[Event]]) -> None:
    truth, events = case
    expected = truth["events"]["raised_voice"]
    found = [e for e in events if e.type == "raised_voice"]
    for stretch in expected:
        who = speaker_of(truth, stretch["speaker"])
        near = [e for e in found if e.speaker == who and abs(e.t - stretch["start"]) <= ONSET_TOL]
        assert near, (f"no raised_voice for {who} within {ONSET_TOL} s of {stretch['start']}; "
                      f"got {[(e.speaker, e.t) for e in found]}")
    # None outside the expected stretches (so none at all in a calm call).
    for e in found:
        inside = [s for s in expected if speaker_of(truth, s["speaker"]) == e.speaker
                  and s["start"] - ONSET_TOL <= e.t <= s["end"]]
        assert inside, f"unexpected raised_voice for {e.speaker} at {e.t}"
    if not expected:
        assert not found


def test_overlap(case: tuple[dict[str, Any], list[Event]]) -> None:
    truth, events = case
    expected = truth["events"]["overlap"]
    found = [e for e in events if e.type == "overlap"]
    for ov in expected:
        near = [e for e in found if e.speaker == ov["speaker"] and e["other"] == ov["other"]
                and abs(e.t - ov["start"]) <= ONSET_TOL]
        assert near, (f"no overlap {ov['speaker']} over {ov['other']} near {ov['start']}; "
                      f"got {[(e.speaker, e['other'], e.t) for e in found]}")
    assert len(found) == len(expected), [(e.speaker, e.t) for e in found]


def test_silence(case: tuple[dict[str, Any], list[Event]]) -> None:
    truth, events = case
    expected = truth["events"]["silence"]
    found = [e for e in events if e.type == "silence"]
    for sil in expected:
        assert [e for e in found if abs(e.t - sil["start"]) <= SILENCE_TOL], (
            f"no silence near {sil['start']}; got {[e.t for e in found]}")
    assert len(found) == len(expected), [e.t for e in found]
    # No silence reported over a short pause: no silence span overlaps one.
    silences = spans(events, "silence_end")
    assert len(silences) == len(found)
    for pause in truth["events"]["short_pauses"]:
        for start, end in silences:
            assert end <= pause["start"] or start >= pause["end"], (
                f"silence {start}-{end} over the short pause {pause}")


def test_speech_covers_segments(case: tuple[dict[str, Any], list[Event]]) -> None:
    truth, events = case
    speech: dict[str, list[tuple[float, float]]] = {}
    starts: dict[str, int] = {}
    for e in events:
        if e.type == "speech_start":
            starts[e.speaker] = starts.get(e.speaker, 0) + 1
        elif e.type == "speech_end":
            speech.setdefault(e.speaker, []).append((e.t, e["t_end"]))
    assert starts == {k: len(v) for k, v in speech.items()}   # every span closed
    for seg in truth["segments"]:
        who = speaker_of(truth, seg["speaker"])
        label = f"{who} segment {seg['start']}-{seg['end']} ({seg['text'][:30]!r})"
        mid = (seg["start"] + seg["end"]) / 2
        inside = [(a, b) for a, b in speech.get(who, []) if b > seg["start"] and a < seg["end"]]
        # The midpoint is in a speech span -- or, for a segment of several phrases,
        # in a real pause between two of its spans (espeak pauses up to ~0.4 s
        # after "!" or "."; the audio there is at the noise floor, so a VAD that
        # ends the span there is right).
        in_span = any(a <= mid <= b for a, b in inside)
        in_pause = any(b1 < mid < a2 and a2 - b1 < INTERNAL_PAUSE_MAX
                       for (_, b1), (a2, _) in zip(inside, inside[1:]))
        assert in_span or in_pause, f"{label}: midpoint {mid} not inside any speech span {inside}"
        covered = sum(min(b, seg["end"]) - max(a, seg["start"]) for a, b in inside)
        assert covered >= MIN_COVERAGE * (seg["end"] - seg["start"]), (
            f"{label}: only {covered:.2f} s covered by speech spans {inside}")
    # And nothing is reported as speech for a speaker who never talks there.
    for who, sp in speech.items():
        segs = [s for s in truth["segments"] if speaker_of(truth, s["speaker"]) == who]
        for a, b in sp:
            assert any(a < s["end"] + 0.5 and b > s["start"] - 0.5 for s in segs), (
                f"speech span {a}-{b} for {who} matches no segment")
