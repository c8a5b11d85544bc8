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


# --- pieces: cuts in a long turn's pauses --------------------------------------------------
# 3.2 s of speech, a 140 ms pause, 2 s of speech: one cut in the middle of the pause
LONG = "." * 10 + "x" * 160 + "." * 7 + "x" * 100 + "." * 40


def test_a_pause_3s_into_a_turn_cuts_it_into_pieces_in_the_middle_of_the_pause():
    (utt,), _ = feed(LONG)
    assert utt.cuts == (173 * F,)          # last voiced 169, voice back at 177: 170 + 7 // 2
    (a, b), (c, d) = utt.pieces()
    assert (a, b, c, d) == (0, 173 * F, 173 * F, len(utt.samples))
    head = utt.samples[a:b] * 32768
    assert head.max() == pytest.approx(172)       # frames 0-172: the first piece ends in the pause


def test_no_cut_for_short_pauses_early_pauses_or_with_pieces_off():
    short_pause = "." * 10 + "x" * 160 + "." * 5 + "x" * 100 + "." * 40      # 100 ms
    early = "." * 10 + "x" * 100 + "." * 10 + "x" * 150 + "." * 40          # 2 s in
    for pattern in (short_pause, early):
        (utt,), _ = feed(pattern)
        assert utt.cuts == () and len(utt.pieces()) == 1
    (utt,), _ = feed(LONG, EndpointParams(piece_pause_ms=0))
    assert utt.cuts == ()


def test_a_cut_too_near_the_end_is_not_kept():
    # the cut made in the turn's own final pause, and one followed by a short word
    for pattern in ("." * 10 + "x" * 170 + "." * 40,
                    "." * 10 + "x" * 160 + "." * 7 + "x" * 30 + "." * 40):
        (utt,), _ = feed(pattern)
        assert utt.cuts == ()


def frame_by_frame(pattern):
    """Feed ``pattern`` one frame at a time (frame k's samples all equal k),
    yielding the frame number and the endpointer after each."""
    ep = Endpointer("customer", EndpointParams(), VadParams())
    values = np.repeat(np.arange(len(pattern), dtype=np.int16), F)
    for i, c in enumerate(pattern):
        ep.feed(values[i * F:(i + 1) * F], [c == "x"], i)
        yield i, ep


def test_pieces_are_ready_ahead_once_the_speaker_talks_on_and_match_the_final():
    ahead = None
    for i, ep in frame_by_frame(LONG):
        bounds = ep.sure_pieces()
        if bounds and ahead is None:
            ahead = (i, bounds, ep.piece(*bounds[0]))
    assert ahead is not None
    i, bounds, samples = ahead
    # sure once the turn cannot end within 1 s of the cut: last voiced + 1 + tail >= 173 + 50
    assert i == 212 and bounds == [(0, 173 * F)]
    (final,), _ = feed(LONG)
    assert np.array_equal(samples, final.samples[:173 * F])


def test_a_speculation_carries_the_cuts_of_its_final():
    ending = None
    for _, ep in frame_by_frame(LONG):
        ending = ending or ep.ending(200)
    (final,), _ = feed(LONG)
    assert ending.cuts == final.cuts == (173 * F,)
    assert np.array_equal(ending.samples, final.samples)


def test_piece_params_are_validated():
    with pytest.raises(ValueError):
        EndpointParams(piece_pause_ms=500)        # not under end_silence_ms
    with pytest.raises(ValueError):
        EndpointParams(piece_min_s=0.1)
