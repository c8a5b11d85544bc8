"""The live transcription stage on the scheduler, with a fake clock and fake engines:
the customer first, nothing shown too old (and the screen told), the language
followed when a speaker switches."""

import numpy as np

from audio.endpointing import EndpointParams, Utterance
from audio.vad import VadParams
from monitor.asr.engine import Transcript
from monitor.asr.scheduler import Scheduler
from monitor.asr.transcription import TranscriptionParams, TranscriptionStage
from monitor.event_bus import EventBus


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class DetectingEngine:
    """Detects a language per utterance (scripted) and decodes in the detected one,
    or in ``fallback`` when the detection is unsure (the short-context engine then
    also tries the detected one and keeps the likelier: here ``fallback`` wins)."""

    def __init__(self, detections, confidence=0.7):
        self.detections = list(detections)
        self.confidence = confidence
        self.calls = []

    def transcribe(self, samples, language, beam_size, fallback=None, cancel=None, abandon=None):
        detected, prob = self.detections.pop(0)
        use = language or (fallback if fallback and prob < self.confidence else detected)
        self.calls.append((language, fallback, use))
        text = {"ru": "привет как дела", "en": "hello how are you", "de": "hallo wie geht es"}[use]
        return Transcript(text, use, prob, -0.3, 0.05, 1.2)


def utt(speaker, t, seconds=1.5):
    return Utterance(speaker, t, t + seconds, np.zeros(int(16000 * (seconds + 0.5)), np.float32))


def live_stage(engine, clock, speakers=("operator", "customer"), **params):
    bus = EventBus("live")
    events = []
    bus.subscribe(events.append)
    sched = Scheduler(clock=clock, start=False, max_age_s=params.pop("max_age_s", 3.0))
    stage = TranscriptionStage(bus, speakers, engine, TranscriptionParams(**params),
                               EndpointParams(), VadParams(), live=True, scheduler=sched)
    return stage, sched, events


def drain(sched):
    while sched.step():
        pass


def test_the_customer_is_transcribed_before_the_operator():
    clock = Clock()
    engine = DetectingEngine([("en", 0.9)] * 2)
    stage, sched, events = live_stage(engine, clock, language="en")
    stage._submit(utt("operator", 1.0), 3.0)           # ended first ...
    stage._submit(utt("customer", 1.2), 3.0)           # ... but the customer goes first
    drain(sched)
    assert [e.speaker for e in events if e.type == "utterance"] == ["customer", "operator"]


def test_a_transcript_too_old_is_dropped_counted_and_the_screen_told():
    clock = Clock()
    engine = DetectingEngine([("en", 0.9)] * 3)
    stage, sched, events = live_stage(engine, clock, language="en", max_age_s=3.0)
    stage._submit(utt("customer", 1.0), 3.0)           # its speech ended 0.5 s ago
    clock.now += 3.0                                   # the machine stalled: 3.5 s old now
    stage._submit(utt("customer", 4.0), 6.0)           # a fresh one
    drain(sched)
    texts = [e for e in events if e.type == "utterance"]
    assert [e.t for e in texts] == [4.0]               # the stale one never shown
    delayed = [e for e in events if e.type == "transcript_delayed"]
    assert delayed and delayed[0]["on"] is True and delayed[0]["dropped"] == 1
    assert "partials" in delayed[0]["shed"] and "operator" in delayed[0]["shed"]
    tr = stage.stats()["transcription"]
    assert tr["too_old"] == {"stale": 1} and tr["delayed"] == 1 and tr["max_age_s"] == 3.0
    assert tr["lag_s"]["max"] <= 3.0


def test_a_speaker_who_switches_language_is_followed_and_an_unsure_utterance_is_not():
    clock = Clock()
    engine = DetectingEngine([("ru", 0.95), ("en", 0.93), ("de", 0.40), ("ru", 0.55)])
    stage, sched, events = live_stage(engine, clock, speakers=("customer",))
    for k in range(4):
        stage._submit(utt("customer", 1.0 + 3 * k), 3.0 + 3 * k)
        clock.now += 0.1
        drain(sched)
    langs = [e["language"] for e in events if e.type == "utterance"]
    # switched to English with a confident detection; two unsure ones stay in English
    assert langs == ["ru", "en", "en", "en"]
    assert [c[1] for c in engine.calls] == [None, "ru", "en", "en"]     # the fallback offered
    assert all(c[0] is None for c in engine.calls)                       # detected every time
    assert stage.stats()["transcription"]["languages"] == {"customer": "en"}


def test_the_printed_summary_says_how_many_transcripts_came_too_late_to_show():
    from rich.console import Console

    from monitor.report.console import print_summary

    console = Console(record=True, width=200)
    speaker = {"speech_s": 3.0, "raised_voice_s": 0.0, "raised_voice_count": 0,
               "overlaps_started": 0, "words": 9, "monologues": 0}
    summary = {"duration": 10.0, "overlaps": 0, "overlap_s": 0.0, "silences": 0, "silence_s": 0.0,
               "speakers": {"customer": speaker},
               "transcription": {"utterances": 3, "real_time_factor": 0.2,
                                 "too_old": {"stale": 1, "late": 1, "shed": 1}}}
    print_summary(summary, console, "live call x")
    assert "too late to show 3" in console.export_text()
