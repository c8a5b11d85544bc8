"""Vocal effort: the features on synthetic signals, the scorer, and the raised-voice
cue it adds for levelled (AGC) telephone speech."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audio.effort import EffortBaseline, EffortParams, EffortWindow
from audio.frames import FRAME_SAMPLES, to_int16
from audio.frontend import FrontEndParams
from audio.pitch import PITCHED, semitones
from audio.raised_voice import RaisedVoiceParams
from audio.voice_features import WINDOW, analyse, tilt_db
from tests.effort_signals import RAISED_SLOPE, gap, mulaw_line, voiced
from tests.signals import noise, of, run


def windows(x: np.ndarray) -> np.ndarray:
    n = len(x) // WINDOW
    return to_int16(x[:n * WINDOW]).reshape(n, WINDOW)


def median_tilt(x: np.ndarray) -> float:
    f = analyse(windows(x))
    return float(np.median([tilt_db(lo, hi) for lo, hi in zip(f.low, f.high)]))


def median_pitch(x: np.ndarray) -> float:
    f = analyse(windows(x))
    return float(np.median([p for p, s in zip(f.f0, f.prominence) if s >= PITCHED]))


# --- features -------------------------------------------------------------------

def test_tilt_rises_when_the_spectrum_flattens_and_ignores_the_gain():
    calm, raised = voiced(1.0, -26), voiced(1.0, -26, slope=RAISED_SLOPE)
    assert median_tilt(raised) - median_tilt(calm) >= 4.0
    assert median_tilt(calm * 0.1) == pytest.approx(median_tilt(calm), abs=0.1)


@pytest.mark.parametrize("f0", [110.0, 220.0])
def test_pitch_is_found_on_a_phone_line_without_the_fundamental(f0):
    x = mulaw_line(voiced(1.5, -26, f0=f0))          # nothing under 300 Hz is left
    assert median_pitch(x) == pytest.approx(float(semitones(f0)), abs=0.6)


def test_a_pitch_rise_is_measured_in_semitones():
    low = median_pitch(mulaw_line(voiced(1.5, -26, f0=120.0)))
    high = median_pitch(mulaw_line(voiced(1.5, -26, f0=170.0)))
    assert high - low == pytest.approx(12 * math.log2(170 / 120), abs=0.5)


def test_a_harmonic_voice_is_pitched_and_noise_is_not():
    harmonic = analyse(windows(voiced(1.0, -26)))
    hiss = analyse(windows(noise(1.0, -26.0)))
    assert np.mean(np.array(harmonic.prominence) >= PITCHED) >= 0.8
    assert np.mean(np.array(hiss.prominence) >= PITCHED) <= 0.2


def test_the_tilt_difference_survives_8khz_mulaw():
    calm = median_tilt(mulaw_line(voiced(1.0, -26)))
    raised = median_tilt(mulaw_line(voiced(1.0, -26, slope=RAISED_SLOPE)))
    assert raised - calm >= 4.0


# --- the scorer -------------------------------------------------------------------

def baseline(tilt: float, f0: float) -> EffortBaseline:
    base = EffortBaseline(ready_s=0.2, warmup_s=2.0, tau_s=30.0, slow_factor=10.0, hop_s=0.04)
    for _ in range(10):
        base.learn(tilt, f0, slow=False)
    assert base.ready
    return base


def window_with(tilts_f0s: list[tuple[float, float]]) -> EffortWindow:
    w = EffortWindow(EffortParams())
    for k, (tilt, f0) in enumerate(tilts_f0s):
        high = 10 ** (tilt / 10)
        w.push(2 * k + 1, 1.0, high, f0)
    return w


def test_effort_needs_tilt_and_pitch_to_rise_together():
    base = baseline(tilt=-8.0, f0=3.0)
    both = window_with([(-2.0, 9.0)] * 5)
    pitch_only = window_with([(-8.0, 9.0)] * 5)
    tilt_only = window_with([(-2.0, 3.0)] * 5)
    assert both.score(base) == pytest.approx(2.0, abs=0.01)
    assert pitch_only.score(base) == pytest.approx(0.0, abs=0.01)
    assert tilt_only.score(base) == pytest.approx(0.0, abs=0.01)


def test_one_octave_error_does_not_carry_the_pitch():
    base = baseline(tilt=-8.0, f0=3.0)
    w = window_with([(-8.0, 4.0)] * 4 + [(-8.0, 16.0)])      # one analysis 12 st off
    assert w.parts(base)[1] == pytest.approx(1.0, abs=0.01)
    wild = window_with([(-8.0, 4.0)] * 4 + [(-8.0, 25.0)])   # past an octave and more
    assert wild.parts(base)[1] == pytest.approx(1.0, abs=0.01)


def test_too_few_pitched_analyses_give_no_score():
    base = baseline(tilt=-8.0, f0=3.0)
    nan = float("nan")
    w = window_with([(-2.0, 9.0), (-2.0, nan), (-2.0, 9.0), (-2.0, nan)])
    assert w.score(base) is None


def test_tilt_of_the_window_is_energy_weighted():
    # a loud vowel and a weak, very bright fricative: the vowel decides
    w = EffortWindow(EffortParams())
    w.push(1, 1000.0, 100.0, 3.0)              # -10 dB
    w.push(3, 1.0, 100.0, float("nan"))        # +20 dB, a thousandth of the energy
    assert w.tilt == pytest.approx(10 * math.log10(200.0 / 1001.0), abs=1e-6)


def test_baseline_pitch_follows_the_voice_not_its_outliers():
    base = EffortBaseline(ready_s=1.0, warmup_s=2.0, tau_s=30.0, slow_factor=10.0, hop_s=0.04)
    for k in range(200):
        base.learn(-8.0, 24.0 if k % 6 == 5 else 5.0, slow=False)
    assert base.f0 == pytest.approx(5.0, abs=0.5)
    assert not EffortBaseline(2.0, 2.0, 30.0, 10.0, 0.04).ready


def test_effort_params_are_checked():
    with pytest.raises(ValueError):
        EffortParams(onset=0.0)
    with pytest.raises(ValueError):
        EffortParams(window_ms=50)
    with pytest.raises(ValueError):
        EffortParams(tilt_db=float("nan"))


# --- the cue --------------------------------------------------------------------------

def levelled_call(test: np.ndarray, line: bool = True) -> tuple[np.ndarray, float]:
    """Three calm sentences, then ``test``, all at -26 dBFS (as after AGC)."""
    parts = []
    for s in range(3):
        parts += [voiced(2.0, -26, 120.0, seed=s), gap(0.5)]
    onset = sum(len(p) for p in parts) / 16000
    x = np.concatenate(parts + [test, gap(0.6)])
    x = x + noise(len(x) / 16000)
    return (mulaw_line(x) if line else x), onset


def shout(seconds: float = 2.5, dbfs: float = -26.0) -> np.ndarray:
    return voiced(seconds, dbfs, f0=180.0, slope=RAISED_SLOPE, seed=7)


def test_a_levelled_raised_voice_is_caught_by_its_effort():
    x, onset = levelled_call(shout())
    facts = run([x], speakers=("customer",))
    raised = of(facts, "raised_voice")
    assert len(raised) == 1
    cue = raised[0]
    assert cue.data["by"] == "effort"
    assert cue.data["db_over_baseline"] < 7.0            # the level alone would not have
    assert cue.data["effort"] >= EffortParams().onset
    assert abs(cue.t - onset) <= 0.3
    assert cue.data["t_detected"] - onset <= 0.6
    end = of(facts, "raised_voice_end")[0]
    assert set(end.data) >= {"t_end", "db_over_baseline", "effort"}


@pytest.mark.parametrize("test", [
    voiced(2.5, -26, f0=180.0, seed=7),                  # higher, as on a question: not effort
    voiced(2.5, -26, f0=120.0, slope=RAISED_SLOPE, seed=7),   # brighter only
    voiced(2.5, -26, f0=125.0, seed=7),                  # just another calm sentence
])
def test_pitch_or_brightness_alone_is_not_raised(test):
    x, _ = levelled_call(test)
    assert of(run([x], speakers=("customer",)), "raised_voice") == []


def test_with_effort_off_only_the_level_counts():
    x, _ = levelled_call(shout())
    off = FrontEndParams(raised_voice=RaisedVoiceParams(effort=EffortParams(enabled=False)))
    assert of(run([x], speakers=("customer",), params=off), "raised_voice") == []


def test_a_louder_raised_voice_still_fires_by_level_as_before():
    x, onset = levelled_call(voiced(2.5, -14.0, f0=125.0, seed=7), line=False)
    raised = of(run([x], speakers=("customer",)), "raised_voice")
    assert len(raised) == 1 and raised[0].data["by"] in ("level", "level+effort")
    assert abs(raised[0].t - onset) <= 0.25


def test_how_the_audio_is_cut_into_blocks_does_not_matter():
    x, _ = levelled_call(shout())
    a = run([x], speakers=("customer",), block_s=0.5)
    b = run([x], speakers=("customer",), block_s=17 * FRAME_SAMPLES / 16000)   # odd frame count
    assert a == b
