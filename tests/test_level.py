import numpy as np
import pytest

from audio.frames import FRAME_SAMPLES, to_int16
from audio.level import Baseline, LevelParams, ShortTermLevel, frame_powers, power_db
from tests.signals import of, run, track, voice


def test_frame_dbfs_of_a_full_scale_sine_is_minus_3():
    t = np.arange(FRAME_SAMPLES * 10) / 16000
    x = to_int16(np.sin(2 * np.pi * 1000 * t) * 0.999)
    assert power_db(frame_powers(x)) == pytest.approx(-3.0, abs=0.05)


def test_digital_silence_is_floored():
    assert power_db(frame_powers(np.zeros(FRAME_SAMPLES * 2, np.int16)))[0] == -100.0


def test_short_term_level_spans_blocks():
    st = ShortTermLevel(4)
    out = np.concatenate([st.update(np.array([1.0, 1.0])), st.update(np.array([0.0, 0.0, 0.0, 0.0]))])
    assert out.tolist() == pytest.approx([0.25, 0.5, 0.5, 0.5, 0.25, 0.0])


def test_baseline_is_a_plain_mean_at_first_then_adapts_slowly():
    b = Baseline(LevelParams(warmup_s=0.2, tau_s=10.0, ready_s=0.1))
    for level in (-30.0, -26.0):
        b.learn(level)
    assert b.value == pytest.approx(-28.0)
    assert not b.ready
    for _ in range(8):
        b.learn(-28.0)
    assert b.ready
    b.learn(-8.0)                           # one loud frame barely moves it
    assert b.value == pytest.approx(-28.0 + 20 * 0.002, abs=1e-6)
    before = b.value
    b.learn(-8.0, slow=True)               # while raised: ten times slower
    assert b.value - before == pytest.approx((-8.0 - before) * 0.0002, rel=1e-6)


def test_baseline_is_learned_from_own_speech_not_silence():
    x = track(("gap", 2.0), ("voice", 3.0, -30), ("gap", 6.0))
    levels = of(run([x]), "level")
    last = levels[-1].data["baseline_dbfs"]
    # level readings of this voice hover around -30 dBFS; the long silence after it must not drag it down
    assert last == pytest.approx(-30.0, abs=2.0)
    assert all(lv.data["baseline_dbfs"] is None for lv in levels if lv.t < 2.0)


def test_level_readings_come_ten_times_a_second_per_speaker():
    x = voice(3.0, -30)
    facts = run([x, x])
    for speaker in ("operator", "customer"):
        assert len(of(facts, "level", speaker)) == 30
