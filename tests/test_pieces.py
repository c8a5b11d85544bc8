"""A long turn transcribed piece by piece (live): the pieces joined, made ahead
while the speaker talks on and reused, the same words however it was timed."""

import numpy as np
import pytest

from audio.endpointing import Endpointer, EndpointParams, Utterance
from audio.frames import FRAME_SAMPLES
from audio.vad import VadParams
from monitor.asr.engine import Transcript
from monitor.asr.idle_work import IdleChooser
from monitor.asr.pieces import join
from tests.signals import track
from tests.test_transcription import FakeEngine, partial_stage, replay

F = FRAME_SAMPLES


class LengthEngine(FakeEngine):
    """Says how many samples it was given: "n<count>"."""

    def transcribe(self, samples, language, beam_size, fallback=None, cancel=None, abandon=None):
        super().transcribe(samples, language, beam_size, fallback, cancel, abandon)
        return Transcript(f"n{len(samples)}", "en", 0.95, -0.3, 0.05, 1.2)


def long_turn():
    """3.5 s of voice, a 150 ms breath, 2 s more: one utterance, cut once."""
    return track(("gap", 0.3), ("voice", 3.5, -30), ("gap", 0.15), ("voice", 2.0, -30), ("gap", 1.2))


def lengths(text):
    return [int(w[1:]) for w in text.split()]


def test_a_long_turn_is_one_utterance_transcribed_in_two_pieces():
    engine = LengthEngine()
    events, stats, _ = replay([long_turn()], engine, live=True)
    (utt,) = [e for e in events if e.type == "utterance"]
    first, second = lengths(utt["text"])
    assert 3.6 * 16000 < first < 4.1 * 16000        # the pre-roll, the voice and half the breath
    assert 2.0 * 16000 < second < 2.5 * 16000       # the rest, with its tail


def test_pieces_made_ahead_are_reused_and_give_the_same_words():
    fast_events, _, _ = replay([long_turn()], LengthEngine(), live=True)
    engine = LengthEngine(delay=0.05)
    events, stats, _ = replay([long_turn()], engine, live=True, realtime=True)
    (utt,) = [e for e in events if e.type == "utterance"]
    (fast,) = [e for e in fast_events if e.type == "utterance"]
    assert utt["text"] == fast["text"]
    assert stats["pieces"]["ahead"] == 1 and stats["pieces"]["reused"] == 1
    first, second = lengths(utt["text"])
    finals = [n for n, _, beam in engine.calls if beam == 2]
    assert finals.count(first) == 1                 # the first piece: once, ahead of the end


def test_replay_transcribes_a_long_turn_whole():
    engine = LengthEngine()
    events, _, _ = replay([long_turn()], engine)
    (utt,) = [e for e in events if e.type == "utterance"]
    assert len(lengths(utt["text"])) == 1 and len(engine.calls) == 1


def test_a_partial_reuses_the_pieces_done_and_transcribes_the_rest():
    engine = LengthEngine()
    stage, events, _ = partial_stage(engine)
    cut = 3 * 16000
    cur = Utterance("customer", 1.0, 5.5, np.zeros(16000 * 5, np.float32), cuts=(cut,))
    head = Transcript("I want to speak", "en", 0.95, -0.3, 0.05, 1.2)
    stage._idle.store_piece("customer", (1.0, 0, cut), head)
    state = stage._partials["customer"]
    for _ in range(2):
        stage._run_partial(cur, state, lambda: False)
    assert [n for n, _, _ in engine.calls] == [2 * 16000, 2 * 16000]
    # the piece's words are the final's own: shown at once, not after a second hypothesis
    texts = [e["text"] for e in events if e.type == "utterance_partial"]
    assert texts == ["I want to speak", "I want to speak n32000"]


def tr(text, *, logprob=-0.3, no_speech=0.05, language="en", prob=0.95):
    return Transcript(text, language, prob, logprob, no_speech, 1.2)


def test_joined_pieces_leave_out_what_the_filter_rejects():
    joined = join([tr("I want to speak to your manager"), tr("Thank you for watching!"),
                   tr("right now", logprob=-0.5)])
    assert joined.text == "I want to speak to your manager right now"
    assert -0.5 < joined.avg_logprob < -0.3
    assert joined.compression_ratio > 0
    one = tr("hello")
    assert join([one]) is one
    rejected = join([tr("Thank you for watching!"), tr("")])
    assert rejected.text == "Thank you for watching!"      # the caller's filter rejects it


def test_joined_pieces_take_the_language_of_the_longest():
    joined = join([tr("da", language="ro", prob=0.6),
                   tr("I would like to speak to someone in charge", language="en")])
    assert joined.language == "en" and joined.language_probability == pytest.approx(0.6)


def test_a_piece_is_due_once_sure_and_only_once():
    ep = Endpointer("customer", EndpointParams(), VadParams())
    chooser = IdleChooser([ep], 200, 1.5, 1.0)
    pattern = "." * 10 + "x" * 160 + "." * 7 + "x" * 60
    pcm = np.full(len(pattern) * F, 1000, np.int16)
    ep.feed(pcm, [c == "x" for c in pattern], 0)
    speaker, key, samples = chooser.piece_due()
    assert speaker == "customer" and key == (ep.speech_start, 0, 173 * F) and len(samples) == 173 * F
    chooser.pieces_running.add((speaker, *key))
    assert chooser.piece_due() is None                      # under way
    chooser.pieces_running.clear()
    chooser.store_piece(speaker, key, tr("done"))
    assert chooser.piece_due() is None                      # done
    chooser.store_piece(speaker, (99.0, 0, 10), tr("next turn"))
    assert list(chooser.pieces[speaker]) == [(99.0, 0, 10)]  # one turn's pieces are kept


def test_a_final_waits_for_a_piece_being_made_beside_it_instead_of_making_it_again():
    import threading

    from audio.endpointing import EndpointParams as EP
    from monitor.asr.transcription import TranscriptionParams, TranscriptionStage
    from monitor.event_bus import EventBus

    engine = LengthEngine(delay=0.3)
    stage = TranscriptionStage(EventBus("test"), ("customer",), engine, TranscriptionParams(), EP(),
                               VadParams(), live=True)
    try:
        samples = np.zeros(16000 * 6, np.float32)
        cut = 4 * 16000
        key = (1.0, 0, cut)
        stage._idle.pieces_running.add(("customer", *key))      # handed out, as _idle_job does
        beside = threading.Thread(target=stage._run_piece, args=("customer", key, samples[:cut]))
        beside.start()
        tr = stage._transcribe_utterance("customer", 1.0, samples, (cut,))
        beside.join()
    finally:
        stage.scheduler.shutdown()
    assert tr.text == "n64000 n32000"
    assert sorted(n for n, _, _ in engine.calls) == [32000, 64000]      # the head once
    assert stage.pieces_reused == 1
