import numpy as np
import webrtcvad

from audio.frames import FRAME_SAMPLES, to_int16
from audio.vad import ENDED, NO_CHANGE, STARTED, VadParams, VoiceActivity
from tests.signals import noise, of, run, track


def steps(pattern: str, params: VadParams = VadParams()):
    vad = VoiceActivity(params)
    return vad, [vad.step(i, ch == "x") for i, ch in enumerate(pattern)]


def test_isolated_voiced_frames_do_not_start_speech():
    vad, changes = steps("x..x...x..x....x..")
    assert STARTED not in changes and not vad.in_speech


def test_speech_starts_at_first_voiced_frame_of_the_window():
    vad, changes = steps("....x.xx....")
    assert changes.index(STARTED) == 7 and vad.start_frame == 4


def test_short_gaps_do_not_end_speech_but_300ms_does():
    # 14 unvoiced frames (280 ms) inside speech: still speaking
    vad, changes = steps("xxxxx" + "." * 14 + "xxx")
    assert ENDED not in changes and vad.in_speech
    # 15 unvoiced frames (300 ms): ended, at the end of the last voiced frame
    vad, changes = steps("xxxxx" + "." * 15)
    assert changes[-1] == ENDED and vad.last_voiced == 4


def test_hangover_is_configurable():
    vad, changes = steps("xxxxx" + "." * 6, VadParams(hangover_ms=100))
    assert ENDED in changes and changes.index(ENDED) == 9


def test_bad_params_are_refused():
    import pytest
    for bad in (dict(aggressiveness=4), dict(start_voiced=6, start_window=5), dict(hangover_ms=5)):
        with pytest.raises(ValueError):
            VadParams(**bad)


def test_speech_times_on_a_voice_signal():
    x = track(("gap", 1.0), ("voice", 2.0, -30), ("gap", 1.0))
    facts = run([x])
    starts, ends = of(facts, "speech_start"), of(facts, "speech_end")
    assert len(starts) == 1 and len(ends) == 1
    assert abs(starts[0].t - 1.0) <= 0.06
    assert abs(ends[0].data["t_end"] - 3.0) <= 0.06
    # the end is only known after the 300 ms hangover, never before
    assert starts[0].data["t_detected"] >= starts[0].t


def test_line_noise_under_the_level_gate_is_not_speech_and_skips_webrtcvad():
    # -60 dBFS is under VadParams.min_dbfs (-55): the gate decides, webrtcvad is not asked
    vad = VoiceActivity(VadParams())
    pcm = to_int16(noise(1.0, -60))
    dbfs = np.full(len(pcm) // FRAME_SAMPLES, -60.0)
    assert vad.classify(pcm, dbfs) == [False] * len(dbfs)
    facts = run([noise(5.0, -60)])
    assert of(facts, "speech_start") == []


def test_above_the_level_gate_webrtcvad_decides():
    # A steady 1 kHz tone at about -43 dBFS is over the gate, so webrtcvad judges
    # every frame, and it does not take the tone for speech (the gate did not decide).
    t = np.arange(5 * 16000) / 16000
    tone = (0.01 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    level = 20 * np.log10(np.sqrt(np.mean(tone ** 2)))
    assert level > VadParams().min_dbfs + 10
    calls = []

    class Counting:
        def __init__(self, mode):
            self._vad = webrtcvad.Vad(mode)

        def is_speech(self, buf, rate):
            calls.append(1)
            return self._vad.is_speech(buf, rate)

    vad = VoiceActivity(VadParams())
    vad._vad = Counting(VadParams().aggressiveness)
    pcm = to_int16(tone)
    n = len(pcm) // FRAME_SAMPLES
    voiced = vad.classify(pcm[: n * FRAME_SAMPLES], np.full(n, level))
    assert len(calls) == n
    assert not any(vad.step(i, v) == STARTED for i, v in enumerate(voiced))
    assert of(run([tone]), "speech_start") == []
