"""Live decoding in a short encoder context, with the real bundled model: the same
words as the full 30 s context on the fixture's utterances, the context and token
cap rules, the loop guard, the language fallback, and partials that give up."""

import re
from pathlib import Path

import numpy as np
import pytest

from audio.file_source import FileSource
from monitor.asr import short_context
from monitor.asr.short_context import ShortContextWhisper, context_seconds, token_cap

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
# (start, end) of some customer lines of the escalation fixture (right channel)
LINES = [(7.29, 12.09), (28.14, 31.69), (17.43, 22.41)]


def test_the_context_is_twice_the_utterance_within_a_floor_and_a_margin_and_the_cap_follows_the_length():
    assert context_seconds(1.4) == 10.0 and context_seconds(5.5) == 10.0
    assert context_seconds(8.0) == 12.0 and context_seconds(15.0) == 19.0    # 4 s of margin
    assert context_seconds(28.0) == 30.0
    assert token_cap(2.0, 128) == 36 and token_cap(15.0, 128) == 128


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("CALMLINE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    from monitor.asr.model_load import load_whisper

    yield load_whisper(None, "cpu", "int8", 0)
    mp.undo()


@pytest.fixture(scope="module")
def lines():
    pcm = np.concatenate(list(FileSource(FIXTURES / "escalation.flac").blocks()), axis=1)
    pcm = np.round(pcm * 32767).astype(np.int16).astype(np.float32) / 32768.0   # as the pipeline gives it
    return [pcm[1, int((a - 0.3) * 16000):int((b + 0.3) * 16000)] for a, b in LINES]


class Counting(ShortContextWhisper):
    def __init__(self, model):
        super().__init__(model)
        self.frames = []

    def _encode(self, features, context_s):
        self.frames.append(int(round(context_s * 100)))
        return super()._encode(features, context_s)


def words(text):
    return re.findall(r"[\w']+", text.lower())


def test_short_context_gives_the_words_of_the_full_context(model, lines):
    short = Counting(model)
    for clip in lines:
        got = short.transcribe(clip, "en", 1, 128)
        segments, _ = model.transcribe(clip, language="en", beam_size=1, temperature=0.0,
                                       without_timestamps=True, vad_filter=False,
                                       condition_on_previous_text=False)
        full = " ".join(s.text for s in segments)
        assert words(got.text) == words(full), (got.text, full)
        assert not got.full_context and got.language == "en"
    # max(10 s, twice the clip) of mel frames, not 30 s, for these 4-6 s lines
    assert short.frames == [int(round(context_seconds(len(c) / 16000) * 100)) for c in lines]
    assert max(short.frames) < 1300


def test_running_into_the_token_cap_is_taken_for_a_loop_and_redone_in_full(model, lines):
    short = Counting(model)
    got = short.transcribe(lines[0], "en", 1, 16)     # 16 tokens cannot hold the line
    assert got.full_context and short.frames[1:] == [3000] and short.frames[0] < 3000


def test_an_unsure_detection_keeps_the_likelier_of_it_and_the_speakers_language(model, lines):
    short = ShortContextWhisper(model)
    sure = short.transcribe(lines[1], None, 1, 128, fallback="de", confidence=0.5)
    assert sure.language == "en" and sure.detected == "en"
    # the detection counts as unsure: English speech is decoded as German too, and
    # the English transcript wins (the speaker switched; no German script)
    unsure = short.transcribe(lines[1], None, 1, 128, fallback="de", confidence=0.9999)
    assert unsure.detected == "en" and unsure.detected_probability < 0.9999
    assert unsure.language == "en" and "third time" in unsure.text


def test_a_partial_gives_up_between_runs_of_decoding_when_told(model, lines, monkeypatch):
    short = ShortContextWhisper(model)
    asked = []

    def cancel():
        asked.append(1)
        return len(asked) >= 2
    monkeypatch.setattr(short_context, "CANCEL_STEP", 4)
    assert short.transcribe(lines[0], "en", 1, 128, cancel=cancel) is None
    assert len(asked) == 2                            # stopped at the second look
    whole = short.transcribe(lines[0], "en", 1, 128)
    stepwise = short.transcribe(lines[0], "en", 1, 128, cancel=lambda: False)
    assert stepwise.text == whole.text
    assert stepwise.avg_logprob == pytest.approx(whole.avg_logprob, abs=0.02)


def test_the_live_engine_hands_back_nothing_for_a_cancelled_partial(model, lines):
    from monitor.asr.engine import WhisperEngine

    engine = WhisperEngine(model, 128, short_context=True)
    assert engine.transcribe(lines[0], "en", 1, cancel=lambda: True) is None
    asked = []
    # a speculation whose speaker went on is abandoned once the audio is encoded,
    # asked once (its decoding is never stopped half-way: it is made in one go)
    assert engine.transcribe(lines[0], "en", 2, abandon=lambda: asked.append(1) or True) is None
    assert asked == [1]
    kept = engine.transcribe(lines[0], "en", 2, abandon=lambda: False)
    assert kept.text == engine.transcribe(lines[0], "en", 2).text
    tr = engine.transcribe(lines[0], "en", 1, cancel=lambda: False)
    assert "washing machine" in tr.text and not tr.full_context


def test_a_partial_cancelled_while_it_encodes_gives_way_before_any_decoding(model, lines):
    """The turn ended while the partial was encoding: its first run of decoding
    would only slow the speculation beside it."""
    from monitor.asr.short_context import ShortContextWhisper

    short = ShortContextWhisper(model)
    decoded = []
    real = short._generate
    short._generate = lambda *a, **kw: decoded.append(1) or real(*a, **kw)
    asked = []
    assert short.transcribe(lines[0], "en", 1, 128, cancel=lambda: asked.append(1) or True) is None
    assert asked == [1] and decoded == []
    assert short.transcribe(lines[0], "en", 1, 128, cancel=lambda: False).text
    assert decoded == [1]


def test_warming_up_makes_one_call_on_each_worker_at_once():
    """Each of the model's workers pays for its first call before the call starts."""
    import threading

    from monitor.asr.engine import WhisperEngine

    engine = WhisperEngine(None, workers=2)
    both = threading.Barrier(2, timeout=10)         # broken unless the two calls overlap
    met = []

    def call(samples, language, beam_size, *a, **kw):
        met.append((len(samples), language, beam_size, both.wait() >= 0))

    engine.transcribe = call
    engine.warm_up(None, 2)
    assert sorted(met) == [(32000, "en", 2, True)] * 2


def test_a_model_that_fails_its_warm_up_is_a_clear_error_not_a_thread_traceback(capsys):
    from monitor.asr.engine import WhisperEngine
    from monitor.errors import CalmlineError

    engine = WhisperEngine(None, workers=2)

    def call(*a, **kw):
        raise RuntimeError("unsupported compute type\n for this CPU")

    engine.transcribe = call
    with pytest.raises(CalmlineError, match=r"first transcription \(de, beam 2\): "
                                            r"unsupported compute type for this CPU"):
        engine.warm_up("de", 2)
    assert "Traceback" not in capsys.readouterr().err
