"""The transcription stage with fake engines: policy, counting, language, filter."""

import threading
import time

import numpy as np
import pytest

from audio.channels import map_channels
from audio.endpointing import EndpointParams, Utterance
from audio.frames import FRAME_SAMPLES
from audio.vad import VadParams
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.pipeline import CallInfo, CallPipeline
from monitor.asr.transcription import TranscriptionParams, TranscriptionStage
from monitor.asr.engine import Segment, Timed, Transcript, Word
from tests.signals import track


class FakeEngine:
    def __init__(self, delay=0.0, text="hello there", language="en", prob=0.95):
        self.delay, self.text, self.lang, self.prob = delay, text, language, prob
        self.calls = []
        self.windows = []
        self.beams = {"given up": set(), "in one go": set()}    # beam sizes, by kind of call

    def transcribe(self, samples, language, beam_size, fallback=None, cancel=None, abandon=None):
        language = language or fallback        # what a 30 s engine decodes in
        self.calls.append((len(samples), language, beam_size))
        self.beams["in one go" if cancel is None else "given up"].add(beam_size)
        if self.delay:
            time.sleep(self.delay)
        text = self.text(len(self.calls)) if callable(self.text) else self.text
        return Transcript(text, language or self.lang, self.prob, -0.3, 0.05, 1.2)

    def transcribe_timed(self, samples, language, beam_size):
        """A window: 'word<k>' for every 0.5 s that is not silent."""
        self.calls.append((len(samples), language, beam_size))
        self.windows.append(samples)
        words = []
        for k in range(0, len(samples) - 8000 + 1, 8000):
            if np.abs(samples[k:k + 8000]).max() > 0.002:
                words.append(Word(k / 16000, (k + 8000) / 16000, f" w{k // 8000}"))
        seg = Segment(0.0, len(samples) / 16000, -0.3, 0.05, 1.2)
        return Timed(words, [seg], language or self.lang, self.prob)


class ArraySource:
    def __init__(self, data, block=8000):
        self.data, self.block = data, block

    def blocks(self):
        for start in range(0, self.data.shape[1], self.block):
            yield self.data[:, start:start + self.block]


ONE_BY_ONE = TranscriptionParams(replay_batch_s=0)


def replay(channels, engine, *, live=False, params=ONE_BY_ONE, realtime=False):
    data = np.stack(channels)
    cmap = map_channels(data.shape[0], None)
    bus = EventBus("test")
    events = []
    bus.subscribe(events.append)
    cfg = load_config()
    stage = TranscriptionStage(bus, cmap.speakers, engine, params, EndpointParams(), VadParams(), live=live)
    pipeline = CallPipeline(cfg, bus, CallInfo("test", 16000, data.shape[0], cmap), [stage])
    summary = pipeline.run(ArraySource(data, block=1600 if realtime else 8000), realtime=realtime)
    return events, summary["transcription"], stage


def turns(n, seconds=1.0, gap=0.8):
    parts = []
    for _ in range(n):
        parts += [("voice", seconds, -30), ("gap", gap)]
    return track(*parts)


def test_replay_transcribes_every_utterance_in_order_with_beam_5():
    engine = FakeEngine(text=lambda k: f"utterance {k}")
    events, stats, _ = replay([turns(5)], engine)
    utts = [e for e in events if e.type == "utterance"]
    assert [e["text"] for e in utts] == [f"utterance {k}" for k in range(1, 6)]
    assert all(call[2] == 5 for call in engine.calls)
    assert stats["utterances"] == 5 and stats["merged"] == 0 and stats["skipped"] == 0
    # each utterance event comes after the speech it transcribes has ended
    ends = {e.t: e for e in events if e.type == "speech_end"}
    for u in utts:
        assert u.seq > ends[u.t].seq


@pytest.mark.parametrize("merge_max_s, expect", [(25.0, "merged"), (1.0, "skipped")])
def test_live_backlog_is_bounded_and_every_utterance_is_accounted_for(merge_max_s, expect):
    # audio arrives far faster than this engine works: the worker falls behind
    engine = FakeEngine(delay=0.25)
    params = TranscriptionParams(queue_max=2, merge_max_s=merge_max_s)
    events, stats, stage = replay([turns(12), turns(12)], engine, live=True, params=params)
    utts = [e for e in events if e.type == "utterance"]
    emitted_parts = sum(e.get("parts", 1) for e in utts)
    assert stats["backlog_max"] <= 2
    assert stats[expect] > 0
    too_old = sum(stats["too_old"].values())                  # waited past max_age_s
    assert emitted_parts + stats["skipped"] + too_old == 24    # nothing lost silently
    assert engine.beams["in one go"] == {2}                   # finals: the live beam


def test_live_finals_use_the_live_beam_and_partials_decode_greedily():
    engine = FakeEngine(delay=0.01, text="I want to speak to your manager")
    x = track(("gap", 0.3), ("voice", 4.5, -30), ("gap", 1.0))
    params = TranscriptionParams(live_beam_size=3)
    events, stats, _ = replay([x], engine, live=True, realtime=True, params=params)
    assert stats["partials"] >= 1
    assert engine.beams == {"given up": {1}, "in one go": {3}}


def test_merges_never_exceed_the_limit():
    engine = FakeEngine(delay=0.2)
    params = TranscriptionParams(queue_max=50, merge_max_s=4.0)   # two 1.5 s utterances fit, three do not
    _, stats, _ = replay([turns(10)], engine, live=True, params=params)
    assert stats["merged"] > 0
    assert max(n for n, _, _ in engine.calls) <= 4.0 * 16000


def test_auto_language_is_fixed_after_a_confident_utterance():
    engine = FakeEngine(language="ru", prob=0.93)
    replay([turns(3)], engine)
    assert [c[1] for c in engine.calls] == [None, "ru", "ru"]


def test_unconfident_detection_is_not_fixed_and_fixed_language_is_passed():
    engine = FakeEngine(language="bg", prob=0.4)
    replay([turns(2)], engine)
    assert [c[1] for c in engine.calls] == [None, None]
    engine = FakeEngine()
    replay([turns(2)], engine, params=TranscriptionParams(language="ro", replay_batch_s=0))
    assert [c[1] for c in engine.calls] == ["ro", "ro"]


def test_hallucinations_are_rejected_and_counted():
    engine = FakeEngine(text=lambda k: "Thanks for watching!" if k == 2 else "real words here")
    events, stats, _ = replay([turns(3)], engine)
    assert [e["text"] for e in events if e.type == "utterance"] == ["real words here"] * 2
    assert stats["rejected"] == {"known_phrase": 1}


def partial_stage(engine):
    """A stage, its events and a 4.5 s customer utterance still being spoken."""
    bus = EventBus("test")
    events = []
    bus.subscribe(events.append)
    stage = TranscriptionStage(bus, ("customer",), engine, TranscriptionParams(), EndpointParams(),
                               VadParams(), live=False)
    return stage, events, Utterance("customer", 1.0, 5.5, np.zeros(16000 * 5, np.float32))


def test_partials_carry_the_prefix_two_hypotheses_agree_on():
    engine = FakeEngine(text=lambda k: ["I want to", "I want to speak to", "I want to speak to your manager"][k - 1])
    stage, events, cur = partial_stage(engine)
    state = stage._partials["customer"]
    for _ in range(3):
        stage._run_partial(cur, state, lambda: False)
    texts = [e["text"] for e in events if e.type == "utterance_partial"]
    assert texts == ["I want to", "I want to speak to"]


def test_a_word_one_hypothesis_flipped_is_stable_once_a_later_one_agrees_with_an_earlier():
    """Greedy decoding of a growing turn flips a word and back: the insult must not
    wait until two hypotheses in a row agree again."""
    said = ["You are a useless idiot and", "You are a user-cidit and I have",
            "You are a useless idiot and I have had enough", "You are a user-cidit and I have had enough of"]
    engine = FakeEngine(text=lambda k: said[k - 1])
    stage, events, cur = partial_stage(engine)
    state = stage._partials["customer"]
    for _ in range(4):
        stage._run_partial(cur, state, lambda: False)
    texts = [e["text"] for e in events if e.type == "utterance_partial"]
    # the third agrees with the first on six words; the fourth with the second on
    # seven, more than was sent: the screen follows the newest agreement
    assert texts == ["You are a", "You are a useless idiot and", "You are a user-cidit and I have"]
    assert len(state.previous) == 4


def test_a_partial_that_comes_back_after_its_utterance_ended_is_not_shown():
    """A final may run beside a partial: the partial of an utterance whose final is
    already in is stale, and must not seed the next utterance's stable prefix."""
    stage, events, cur = partial_stage(FakeEngine(text=lambda k: "I want to speak to your manager"))
    state = stage._partials["customer"]
    stage._run_partial(cur, state, lambda: False)        # the first hypothesis
    stage._idle.reset("customer")                        # its final came in meanwhile
    stage._run_partial(cur, state, lambda: False)        # would agree with the first
    assert [e for e in events if e.type == "utterance_partial"] == []
    assert stage.partials_stale == 1
    assert stage._partials["customer"].previous == []     # the next utterance starts clean


def test_live_final_reuses_the_speculative_transcript_made_during_the_end_wait():
    engine = FakeEngine(delay=0.05, text=lambda k: f"call {k}")
    x = track(("gap", 0.3), ("voice", 1.0, -30), ("gap", 1.2), ("voice", 1.0, -30), ("gap", 1.0))
    events, stats, _ = replay([x], engine, live=True, realtime=True)
    utts = [e for e in events if e.type == "utterance"]
    assert len(utts) == 2
    assert stats["speculative_finals"]["used"] == 2
    assert len(engine.calls) == 2                     # one model call per utterance, not two
    for u in utts:          # out as soon as the 500 ms end wait is over: no model call after it
        assert u.wall - u["t_end"] < 0.5 + 0.2


def test_speculation_dropped_when_speech_resumes():
    engine = FakeEngine(delay=0.05)
    # a 400 ms pause: long enough to speculate (300 ms), too short to end (500 ms)
    x = track(("gap", 0.3), ("voice", 1.0, -30), ("gap", 0.4), ("voice", 1.0, -30), ("gap", 1.0))
    events, stats, _ = replay([x], engine, live=True, realtime=True)
    assert len([e for e in events if e.type == "utterance"]) == 1
    assert stats["speculative_finals"]["made"] >= 2 and stats["speculative_finals"]["used"] == 1


def test_replay_packs_utterances_into_shared_windows_and_keeps_live_order():
    x = turns(8, seconds=1.0, gap=0.8)
    y = np.concatenate([np.zeros(8000, np.float32), turns(8, seconds=1.0, gap=0.8)[:-8000]])
    one = FakeEngine()
    ev_one, _, _ = replay([x, y], one, params=ONE_BY_ONE)
    packed = FakeEngine()
    ev_packed, stats, _ = replay([x, y], packed, params=TranscriptionParams(replay_batch_s=6.0))
    assert len(packed.calls) < len(one.calls) == 16
    assert stats["replay_windows"] == len(packed.calls) and stats["utterances"] == 16
    assert max(len(w) for w in packed.windows) <= 28 * 16000
    # the same events at the same places in the stream, only the words differ
    shape = lambda evs: [(e.type, e.speaker, e.t) for e in evs if e.type != "level"]  # noqa: E731
    assert shape(ev_one) == shape(ev_packed)
    # each utterance got the words of its own stretch of the window
    assert all(e["text"].startswith("w") for e in ev_packed if e.type == "utterance")


def test_replay_windows_wait_at_most_the_configured_call_time():
    engine = FakeEngine()
    params = TranscriptionParams(replay_batch_s=28.0, replay_batch_wait_s=3.0)
    events, stats, _ = replay([turns(10, seconds=1.0, gap=0.8)], engine, params=params)
    assert stats["replay_windows"] >= 3                      # never 28 s: the wait cuts them short
    for e in (e for e in events if e.type == "utterance"):
        later = [x for x in events if x.type == "level" and x.seq < e.seq]
        assert later[-1].t - e["t_end"] <= 3.0 + 1.0         # released within the wait


class FlakyEngine(FakeEngine):
    def transcribe(self, samples, language, beam_size, **kw):
        if len(self.calls) == 1:
            self.calls.append(None)
            raise RuntimeError("CUDA out of memory")
        return super().transcribe(samples, language, beam_size, **kw)


def test_a_failing_model_call_does_not_stop_live_transcription():
    engine = FlakyEngine()
    # no merging: on a loaded machine the pipeline can queue the last three before
    # the worker starts, and one merged model call would then fail for all three
    params = TranscriptionParams(speculate_ms=0, partial_after_s=30, merge_max_s=1.0)
    events, stats, stage = replay([turns(4)], engine, live=True, params=params)
    assert stats["errors"] == 1 and "CUDA out of memory" in stats["first_error"]
    assert len([e for e in events if e.type == "utterance"]) == 3      # the other three still came


def test_an_interrupted_replay_window_does_not_swallow_the_rest_of_the_call():
    class Interrupting(FakeEngine):
        def transcribe_timed(self, samples, language, beam_size):
            raise KeyboardInterrupt

    bus = EventBus("t")
    events = []
    bus.subscribe(events.append)
    data = np.stack([turns(3)])
    cmap = map_channels(1, None)
    stage = TranscriptionStage(bus, cmap.speakers, Interrupting(), TranscriptionParams(replay_batch_s=2.0),
                               EndpointParams(), VadParams(), live=False)
    pipeline = CallPipeline(load_config(), bus, CallInfo("t", 16000, 1, cmap), [stage])
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(ArraySource(data))
    types = [e.type for e in events]
    assert types[-2:] == ["call_end", "summary"]
    # everything the front end saw before the interruption still went out
    assert types.count("speech_end") == types.count("speech_start") >= 2


def test_hurry_skips_what_waits_and_still_finishes():
    engine = FakeEngine(delay=0.3)
    bus = EventBus("t")
    events = []
    bus.subscribe(events.append)
    data = np.stack([turns(8)])
    cmap = map_channels(1, None)
    stage = TranscriptionStage(bus, cmap.speakers, engine, TranscriptionParams(queue_max=20, merge_max_s=1.0),
                               EndpointParams(), VadParams(), live=True)
    pipeline = CallPipeline(load_config(), bus, CallInfo("t", 16000, 1, cmap), [stage])
    threading.Timer(0.1, stage.hurry).start()
    started = time.monotonic()
    summary = pipeline.run(ArraySource(data))
    assert time.monotonic() - started < 8 * 0.3            # did not work through everything
    tr = summary["transcription"]
    assert tr["utterances"] + tr["skipped"] == 8
    assert events[-1].type == "summary"


@pytest.mark.parametrize("workers", [1, 2])
def test_a_partial_gives_way_to_a_pause_and_to_its_utterance_s_end(workers):
    from monitor.asr.scheduler import Scheduler

    sched = Scheduler(workers=workers)
    stage = TranscriptionStage(EventBus("test"), ("customer",), FakeEngine(), TranscriptionParams(),
                               EndpointParams(), VadParams(), live=True, scheduler=sched)
    try:
        ep = stage.endpointers[0]
        ep.feed(np.full(105 * FRAME_SAMPLES, 1000, np.int16), [False] * 5 + [True] * 100, 0)   # 2 s of talk
        state = stage._partials["customer"]
        assert not stage._partial_gives_way("customer", state)
        ep.feed(np.zeros(12 * FRAME_SAMPLES, np.int16), [False] * 12, 105)                     # a 240 ms pause
        assert stage._partial_gives_way("customer", state)
        ep.feed(np.full(5 * FRAME_SAMPLES, 1000, np.int16), [True] * 5, 117)         # talks on
        assert not stage._partial_gives_way("customer", state)
        stage._idle.reset("customer")                      # the utterance's final came in
        assert stage._partial_gives_way("customer", state)
    finally:
        stage.lane.close()
        sched.shutdown()
