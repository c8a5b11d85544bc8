"""End to end with the real bundled Whisper model: an English fixture's words
match its ground truth within a word-error bound, fully offline."""

import json
import re
from pathlib import Path

import pytest

from audio.channels import map_channels
from audio.file_source import FileSource
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.pipeline import CallInfo, CallPipeline
from monitor.asr.stage_build import transcription_stage

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NUMBERS = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
           "six": "6", "seven": "7", "eight": "8", "nine": "9"}


def words(text: str) -> list[str]:
    out = []
    for w in re.findall(r"[\w']+", text.lower()):
        w = NUMBERS.get(w, w)
        out += list(w) if w.isdigit() else [w]      # "31884" and "three one eight ..." agree
    return out


def wer(ref: list[str], hyp: list[str]) -> float:
    d = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, d[0] = d[0], i
        for j, h in enumerate(hyp, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (r != h))
    return d[len(hyp)] / max(1, len(ref))


@pytest.fixture(scope="module")
def calm_events(tmp_path_factory, monkeypatch_module):
    monkeypatch_module.setenv("CALMLINE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    cfg = load_config(None, {"transcription": {"language": "en"}})
    source = FileSource(FIXTURES / "calm.flac")
    cmap = map_channels(source.info.channels, None)
    bus = EventBus("calm")
    events = []
    bus.subscribe(events.append)
    stage = transcription_stage(cfg, bus, cmap.speakers, live=False, say=lambda m: None)
    CallPipeline(cfg, bus, CallInfo("calm", 16000, 2, cmap), [stage]).run(source)
    return events


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_transcript_matches_ground_truth(calm_events):
    truth = json.loads((FIXTURES / "calm.json").read_text())
    for speaker in ("operator", "customer"):
        ref = [w for s in truth["segments"] if s["speaker"] == speaker for w in words(s["text"])]
        hyp = [w for e in calm_events if e.type == "utterance" and e.speaker == speaker
               for w in words(e["text"])]
        assert wer(ref, hyp) <= 0.25, (speaker, " ".join(hyp))


def test_utterances_line_up_with_ground_truth_segments(calm_events):
    truth = json.loads((FIXTURES / "calm.json").read_text())
    utts = [e for e in calm_events if e.type == "utterance"]
    for seg in truth["segments"]:
        mid = (seg["start"] + seg["end"]) / 2
        assert any(u.speaker == seg["speaker"] and u.t - 0.1 <= mid <= u["t_end"] + 0.1 for u in utts), seg
    for u in utts:
        assert u["language"] == "en" and u["t_end"] > u.t


def test_summary_counts_words_and_reports_speed(calm_events):
    summary = next(e for e in calm_events if e.type == "summary")
    assert summary["speakers"]["operator"]["words"] > 30
    assert summary["speakers"]["customer"]["words"] > 20
    tr = summary["transcription"]
    assert tr["utterances"] >= 10 and tr["real_time_factor"] > 0
