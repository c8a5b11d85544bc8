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


def test_line_noise_is_not_speech():
    facts = run([noise(5.0, -60)])
    assert of(facts, "speech_start") == []
