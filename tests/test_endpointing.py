import numpy as np
import pytest

from audio.endpointing import EndpointParams, Endpointer
from audio.frames import FRAME_SAMPLES, SAMPLE_RATE
from audio.vad import VadParams

F = FRAME_SAMPLES


def feed(pattern: str, params: EndpointParams = EndpointParams(), loud=None, block_frames=37):
    """pattern: one char per 20 ms frame, 'x' voiced, '.' not.  Frame k's samples
    all equal k (so we can tell which frames an utterance holds), or `loud[k]`."""
    n = len(pattern)
    values = np.arange(n, dtype=np.int16) if loud is None else np.asarray(loud, np.int16)
    pcm = np.repeat(values, F).astype(np.int16)
    voiced = [c == "x" for c in pattern]
    ep = Endpointer("customer", params, VadParams())
    out = []
    for start in range(0, n, block_frames):
        stop = min(n, start + block_frames)
        out += ep.feed(pcm[start * F:stop * F], voiced[start:stop], start)
    out += ep.finish()
    return out, ep


def frames_of(utt):
    return sorted(set(np.rint(utt.samples * 32768).astype(int)[::F].tolist()))


def test_utterance_has_preroll_and_tail_and_speech_times():
    pattern = "." * 50 + "x" * 100 + "." * 60
    (utt,), _ = feed(pattern)
    assert utt.t == pytest.approx(1.0) and utt.t_end == pytest.approx(3.0)
    got = frames_of(utt)
    assert got[0] == 50 - 15                  # 300 ms of pre-roll
    assert got[-1] == 150 + 10 - 1            # 200 ms of tail
    assert len(utt.samples) == (15 + 100 + 10) * F


def test_a_pause_shorter_than_500ms_does_not_end_the_utterance():
    pattern = "." * 10 + "x" * 50 + "." * 20 + "x" * 50 + "." * 40
    utts, _ = feed(pattern)
    assert len(utts) == 1


def test_500ms_of_silence_ends_it():
    pattern = "." * 10 + "x" * 50 + "." * 25 + "x" * 50 + "." * 40
    utts, _ = feed(pattern)
    assert len(utts) == 2 and utts[1].t == pytest.approx(85 * 0.02)


def test_blips_are_dropped_and_counted():
    pattern = "." * 20 + "xxxxxxxx" + "." * 60 + "x" * 40 + "." * 30
    utts, ep = feed(pattern)
    assert len(utts) == 1 and ep.dropped_blips == 1


def test_long_turns_are_split_at_the_quietest_point_near_the_limit():
    n = 20 * 50                                      # 20 s of continuous speech
    loud = np.full(n + 60, 3000)
    quiet_at = 13 * 50                               # 13 s: inside the 3 s search window
    loud[quiet_at] = 1
    pattern = "x" * n + "." * 60
    utts, ep = feed(pattern, loud=loud)
    assert ep.splits == 1 and len(utts) == 2
    first, second = utts
    assert first.split and first.t_end == pytest.approx(quiet_at * 0.02)
    assert len(first.samples) <= 15 * SAMPLE_RATE
    assert second.t == pytest.approx(quiet_at * 0.02)
    assert second.t_end == pytest.approx(20.0)


def test_chunking_does_not_change_the_result():
    pattern = ("." * 30 + "x" * 70 + "." * 12 + "x" * 9) * 6 + "." * 40
    a, _ = feed(pattern, block_frames=1)
    b, _ = feed(pattern, block_frames=500)
    assert [(u.t, u.t_end, len(u.samples)) for u in a] == [(u.t, u.t_end, len(u.samples)) for u in b]


def test_params_are_validated():
    with pytest.raises(ValueError):
        EndpointParams(max_s=40)
    with pytest.raises(ValueError):
        EndpointParams(end_silence_ms=10)


def test_still_talking_is_false_in_a_pause_so_no_partial_delays_the_final():
    ep = Endpointer("customer", EndpointParams(), VadParams())
    pcm = np.zeros(60 * F, np.int16)
    ep.feed(pcm[:50 * F], [True] * 50, 0)
    assert ep.still_talking and ep.collected_seconds == pytest.approx(1.0)
    ep.feed(pcm[50 * F:60 * F], [False] * 10, 50)          # 200 ms pause
    assert ep.collecting and not ep.still_talking
