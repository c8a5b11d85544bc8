"""Mono recordings: two voices in one channel are not judged against one baseline."""

from __future__ import annotations

import numpy as np
import pytest

from audio.effort import EffortParams, EffortWindow
from audio.level import LevelParams
from audio.voices import ID_PITCHED, MonoVoices
from tests.effort_signals import RAISED_SLOPE, gap, voiced
from tests.signals import noise, of, run


def dialogue(*extra: np.ndarray) -> np.ndarray:
    """A quiet woman (220 Hz, -34 dBFS) and a man 14 dB louder (110 Hz) taking
    turns, calmly; the quiet one speaks first."""
    parts = []
    for s in range(5):
        parts += [voiced(2.0, -34, 220.0, seed=10 + s), gap(0.6)]
        parts += [voiced(2.0, -20, 110.0, seed=s), gap(0.6)]
    for x in extra:
        parts += [x, gap(0.6)]
    x = np.concatenate(parts)
    return x + noise(len(x) / 16000)


def test_one_baseline_for_two_voices_flags_the_louder_party():
    # what a single channel baseline does with a mono mix (and what the issue saw)
    assert len(of(run([dialogue()], speakers=("customer",)), "raised_voice")) >= 3


def test_mono_keeps_a_baseline_per_voice_and_flags_nothing_calm():
    assert of(run([dialogue()], speakers=("call",)), "raised_voice") == []


def test_mono_still_flags_a_raised_voice_and_calls_it_call():
    shout = voiced(2.5, -10, 165.0, slope=RAISED_SLOPE, seed=99)    # the man: louder, higher, brighter
    x = dialogue(shout)
    onset = (len(x) - len(shout) - len(gap(0.6))) / 16000
    raised = of(run([x], speakers=("call",)), "raised_voice")
    assert len(raised) == 1
    assert raised[0].speaker == "call"
    assert abs(raised[0].t - onset) <= 0.5


# --- the voice tracker itself ------------------------------------------------------

def tracker() -> MonoVoices:
    return MonoVoices(EffortParams(ready_s=0.2), LevelParams(ready_s=0.1), 0.04)


def speak(v: MonoVoices, pitch: float, level: float, raised: bool = False, n: int = 40) -> None:
    v.segment_start()
    for _ in range(n):
        v.observe(pitch, level)
        v.learn_level(level, False)
        v.learn_effort(-8.0, pitch, False)
    v.segment_end(raised)


def test_a_second_voice_is_learned_from_its_own_calm_turn():
    v = tracker()
    speak(v, 2.0, -30.0)                       # a man
    speak(v, 12.0, -30.0)                      # a woman: an octave... well, 10 semitones up
    assert len(v.voices) == 2
    assert [round(x.effort.f0) for x in v.voices] == [2, 12]
    speak(v, 2.5, -31.0)                       # the man again: placed with his voice
    assert len(v.voices) == 2


def test_a_shouted_turn_never_becomes_a_voice():
    v = tracker()
    speak(v, 2.0, -30.0)
    speak(v, 12.0, -20.0, raised=True)
    assert len(v.voices) == 1


def test_an_unplaced_turn_is_judged_against_every_voice():
    v = tracker()
    speak(v, 2.0, -30.0)
    speak(v, 12.0, -24.0)
    assert len(v.voices) == 2
    v.segment_start()
    w = EffortWindow(EffortParams())
    for k in range(5):                          # the woman's calm speech, not yet placed
        w.push(2 * k + 1, 1.0, 10 ** (-8.0 / 10), 12.0)
    assert v.current is None
    # raised against the man's pitch, not against her own: not raised
    assert v.effort(w) == pytest.approx(0.0, abs=0.01)
    assert v.baseline() == pytest.approx(-24.0, abs=0.01)   # the louder voice's level


def test_a_turn_is_placed_after_enough_pitched_analyses():
    v = tracker()
    speak(v, 2.0, -30.0)
    v.segment_start()
    for _ in range(ID_PITCHED - 1):
        v.observe(2.2, -30.0)
    assert v.current is None
    v.observe(2.2, -30.0)
    assert v.current is v.voices[0]
