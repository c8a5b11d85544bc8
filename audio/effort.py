"""Vocal effort: how hard a voice is working, independent of how loud it arrives.

Telephone audio passes through automatic gain control, which levels every
sentence: a shouted sentence can arrive no louder than a calm one.  What AGC
cannot undo is *how* the voice sounds.  Raising the voice sharpens the glottal
pulse (more energy in the upper harmonics: a flatter spectral ``tilt``) and
raises the pitch (``f0``).  Both are measured per 40 ms analysis by
:mod:`audio.voice_features`, inside 300-3400 Hz, as ratios, so gain, AGC and
an 8 kHz mu-law line leave them unchanged.

The score compares the last ``window_ms`` of a voice with **that voice's own**
usual values (:class:`EffortBaseline`), in units of a typical raise:

    effort = min(d_tilt / tilt_db, d_f0 / pitch_st)

so an effort of 1 means the spectrum is ``tilt_db`` flatter *and* the pitch
``pitch_st`` semitones higher than usual.  Why these choices:

- **Both, not either** (the minimum): each cue alone has innocent causes.  Pitch
  rises on questions, lists and friendly, lively speech ("thank you!"); the
  spectrum brightens on some voices and sounds without any strain.  A raised
  voice moves both at once.  On EmoDB's acted sentences the mean of the two
  separates about as well (``benchmarks/effort.py`` data, 90 % of angry
  sentences caught: 4.6 % of neutral and bored ones flagged with the mean, 5.7 %
  with the minimum), but the mean fires on a large pitch rise alone (an excited
  question: +12 semitones and no change of tilt scores 2), the minimum never.
- ``tilt_db = 3`` and ``pitch_st = 3``, ``onset = 1.8``: a window has to be
  5.4 dB flatter *and* 5.4 semitones higher than the voice's usual.  Measured
  over the 0.4 s windows of levelled telephone speech (the benchmark's
  sentences): neutral windows rise by at most 5.7 dB and 3.2 semitones in nine
  cases out of ten, angry ones by a median 6.2 dB and 7.8 semitones.  On held-out
  speakers the onset picked on the others' calm sentences came out between 1.6
  and 2.0 (``benchmarks/effort.py``, leave one speaker out).
- ``window_ms = 400``: two to three syllables, the same span as the level
  window, so one bright fricative or one high note is not enough.  The pitch part
  uses the median of the window's pitched analyses (at least ``min_pitched``)
  so one octave error cannot carry it, and only those from ``PITCH_BELOW_ST``
  (8) under to ``PITCH_ABOVE_ST`` (14) semitones over the voice's baseline: a
  shouting voice rises by up to about an octave (EmoDB angry sentences: 6-12
  semitones), while the cepstrum's typical error on a low voice is a peak at a
  quarter or a third of the period, 19-24 semitones up.
- The baseline is used once ``ready_s`` (2 s) of the voice's own speech has
  been analysed (and a quarter of that pitched): about three short sentences.

This module only scores; :mod:`audio.raised_voice` decides when a cue fires and
combines the score with the level.  It never names an emotion: it measures
effort.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from audio.frames import FRAME_SECONDS
from audio.params import Ranged, ranged


@dataclass(frozen=True)
class EffortParams(Ranged):
    section = "raised_voice.effort"
    enabled: bool = True
    window_ms: int = ranged(400, 100, 3000)
    tilt_db: float = ranged(3.0, 0.5, 30.0)
    pitch_st: float = ranged(3.0, 0.5, 24.0)
    onset: float = ranged(1.8, 0.2, 10.0)
    min_pitched: int = ranged(3, 1, 50)
    ready_s: float = ranged(2.0, 0.2, 60.0)


class EffortBaseline:
    """One voice's usual tilt (dB) and pitch (semitones).

    Learned like the level baseline (:mod:`audio.level`): over the first
    ``warm`` analyses a plain mean of tilt and the *median* of pitch (pitched
    analyses only), then an
    exponential average with time constant ``tau_s`` of speech, ``slow_factor``
    times slower while the voice is raised.  Pitch trackers err by whole
    fractions of the period (about one analysis in six on telephone speech), so
    each pitch update is clipped to +/-``PITCH_STEP_ST``: the baseline follows
    the bulk of the voice, not its outliers.
    """

    __slots__ = ("tilt", "f0", "n", "n_f0", "_first", "_warm", "_alpha", "_slow", "_ready")

    def __init__(self, ready_s: float, warmup_s: float, tau_s: float, slow_factor: float,
                 hop_s: float) -> None:
        self.tilt = 0.0
        self.f0 = 0.0
        self.n = 0
        self.n_f0 = 0
        self._first: list[float] = []
        self._warm = max(1, round(warmup_s / hop_s))
        self._alpha = hop_s / tau_s
        self._slow = self._alpha / slow_factor
        self._ready = max(1, round(ready_s / hop_s))

    @property
    def ready(self) -> bool:
        return self.n >= self._ready and self.n_f0 >= self._ready // 4

    def learn(self, tilt: float, f0: float, slow: bool) -> None:
        """One analysis: the window's tilt after it, and its pitch (NaN when
        unpitched: it teaches the tilt only)."""
        self.n += 1
        rate = self._slow if slow else self._alpha
        self.tilt += (tilt - self.tilt) / self.n if self.n <= self._warm else rate * (tilt - self.tilt)
        if f0 != f0:
            return
        self.n_f0 += 1
        if self.n_f0 <= self._warm:
            self._first.append(f0)
            self.f0 = _median(self._first)
            if self.n_f0 == self._warm:
                self._first = []
            return
        step = f0 - self.f0
        self.f0 += rate * max(-PITCH_STEP_ST, min(PITCH_STEP_ST, step))


class EffortWindow:
    """The analyses of the last ``window_ms`` of one speaker, and their effort score.

    The window's tilt is energy-weighted: the ratio of its summed upper-band to
    its summed lower-band energy.  The vowels, which carry the voice source,
    dominate both sums; a weak fricative or a breath, whose own tilt is extreme,
    barely moves it (an unweighted mean of per-analysis tilts flagged a third of
    one speaker's bored sentences for their fricatives)."""

    __slots__ = ("_span", "_tilt_db", "_pitch_st", "_min_pitched", "_items", "tilt", "_low",
                 "_high", "_pitched")

    def __init__(self, params: EffortParams) -> None:
        self._span = max(1, round(params.window_ms / 1000 / FRAME_SECONDS))
        self._tilt_db = params.tilt_db
        self._pitch_st = params.pitch_st
        self._min_pitched = params.min_pitched
        self._items: deque[tuple[int, float, float, float]] = deque()
        self.tilt = 0.0             # energy-weighted tilt of the window, dB
        self._low = self._high = 0.0
        self._pitched = 0           # pitched analyses in the window

    def push(self, frame: int, low: float, high: float, f0: float) -> None:
        """Add the analysis ending at ``frame``: its energy under and over 1 kHz
        and its pitch (NaN when unpitched)."""
        items = self._items
        oldest = frame - self._span
        while items and items[0][0] <= oldest:
            _, old_low, old_high, old_f0 = items.popleft()
            self._low -= old_low
            self._high -= old_high
            if old_f0 == old_f0:
                self._pitched -= 1
        if not items:                           # a fresh start: no rounding carried over
            self._low = self._high = 0.0
        items.append((frame, low, high, f0))
        self._low += low
        self._high += high
        if f0 == f0:
            self._pitched += 1
        self.tilt = 10.0 * math.log10((self._high + _TINY) / (self._low + _TINY))

    def parts(self, base: EffortBaseline) -> tuple[float, float] | None:
        """(tilt rise in dB, pitch rise in semitones) over ``base``, or None
        while the window holds too few pitched analyses."""
        if self._pitched < self._min_pitched:
            return None
        lo, hi = base.f0 - PITCH_BELOW_ST, base.f0 + PITCH_ABOVE_ST
        pitched = [f for _, _, _, f in self._items if lo <= f <= hi]    # NaN fails both
        if len(pitched) < self._min_pitched:
            return None
        return self.tilt - base.tilt, _median(pitched) - base.f0

    def pitch(self) -> float | None:
        """Median pitch of the window's pitched analyses (None if too few)."""
        pitched = [f for _, _, _, f in self._items if f == f]
        return _median(pitched) if len(pitched) >= self._min_pitched else None

    def score(self, base: EffortBaseline) -> float | None:
        """Effort over ``base`` (see the module docstring), or None."""
        if self._pitched < self._min_pitched:
            return None
        lo = base.f0 - PITCH_BELOW_ST
        hi = lo + (PITCH_BELOW_ST + PITCH_ABOVE_ST)
        pitched = sorted([f for _, _, _, f in self._items if lo <= f <= hi])
        n = len(pitched)
        if n < self._min_pitched:
            return None
        mid = n // 2
        f0 = pitched[mid] if n % 2 else 0.5 * (pitched[mid - 1] + pitched[mid])
        tilt_part = (self.tilt - base.tilt) / self._tilt_db
        pitch_part = (f0 - base.f0) / self._pitch_st
        return tilt_part if tilt_part < pitch_part else pitch_part


_TINY = 1e-9
PITCH_STEP_ST = 3.0
PITCH_BELOW_ST = 8.0
PITCH_ABOVE_ST = 14.0


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else 0.5 * (ordered[mid - 1] + ordered[mid])
