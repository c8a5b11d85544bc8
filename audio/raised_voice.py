"""Raised voice: a speaker sustaining a level, or a vocal effort, well above their own usual.

Fires when, during speech, the speaker's short-term level (0.4 s) stays at least
``onset_db`` over *their own* baseline for ``sustain_ms``, or, the quick way in,
when the level of the last ``fast_window_ms`` (0.24 s) is at least ``onset_db +
fast_margin_db`` over it for ``fast_sustain_ms``; ends once it has been below
``release_db`` over baseline (or out of speech) for ``release_ms``.

Why these defaults:

- ``onset_db = 7``: within calm conversational speech the 0.4 s level of one
  talker wanders by about +/-3 dB around its mean (stress, vowels vs consonants),
  with emphatic words reaching +5 or so; a voice raised in anger sits 10 dB or
  more above its earlier level (the escalation fixture uses +12 dB).  7 dB is
  clear of the first and reliably under the second, even on telephone-band audio.
- ``sustain_ms = 200``: a single stressed syllable or a cough is shorter than
  that once the 0.4 s window has smoothed it; a shouted phrase is far longer.
- ``fast_window_ms = 240``, ``fast_margin_db = 2``, ``fast_sustain_ms = 20``:
  the goal is onset -> event within 0.25 s of audio (p95), and the 0.4 s level
  plus its 200 ms alone came 0.24-0.41 s after the fixtures' loud onsets (p95
  0.41 s) and, on real sentences raised 12 dB (EmoDB), a median 0.21-0.23 s and
  a p95 of 0.36-0.39 s after their first full-strength syllable.  A shouted syllable
  lifts the 0.24 s level 9 dB within about 100 ms, so one frame of it (with the
  loud frames below, which are what keep a cough or a bang out) is enough:
  fixtures 0.16-0.23 s (p95 0.23 s), EmoDB +12 dB a median 0.13 s and a p95 of
  0.25 s wideband, 0.29 s through a phone line.  The 2 dB on top of ``onset_db``
  is what keeps calm speech out of so short a window, whose stressed syllables
  lift it more than the 0.4 s one: the 0.4 s level held for one frame instead
  flagged 38 % of calm EmoDB sentences spoken 3 dB louder than the speaker's
  earlier ones (20.5 % before); with the 0.24 s path at 2 dB 21.2 %, and of those
  at the speaker's own level 3.0 % before and after (``benchmarks/raised_onset.py``).
  A voice raised by less than about 9 dB takes the 0.4 s way (EmoDB +9 dB: a
  median 0.17-0.21 s, p95 0.55-0.68 s).
- ``release_db = 4`` for ``release_ms = 500``: hysteresis, so one quieter word in
  the middle of a shouted sentence does not split it into two events.
- Because the comparison is against each speaker's own baseline, a customer who
  is simply louder than the operator from the first word is never "raised".

A brief bang, cough or laugh can lift the 0.4 s mean for a few hundred ms on
its own, so onset also needs at least ``min_loud_ms`` (140 ms) of individual
frames within that window to be loud themselves (no more than
``frame_margin_db``, 3 dB, under the threshold): a voice, not a click, has to be
raised.  The margin and the 140 ms (not the full 200 ms) leave room for
telephone-band audio, where the fricatives of a shouted sentence lose most of
their energy above 3.4 kHz and fewer of its frames stay loud.

Either way in, onset also needs those loud frames.  The reported start (``t``) is
refined from where the level that fired crossed its threshold back to the first
100 ms stretch, within the 0.4 s before, that was itself over ``onset_db``, so it
lands on the audible onset rather than on the moment a window caught up;
``t_detected`` is the end of the frame on which the cue was decided.

**Vocal effort** (:mod:`audio.effort`) is the second way in, for telephone
audio whose automatic gain control has levelled the shout away: the cue also
fires when the effort score stays at or over ``effort.onset`` for
``effort_sustain_ms`` of speech.  Why these defaults:

- ``effort_sustain_ms = 100``: the effort score is already a 0.4 s window (and a
  median for pitch), so it needs less holding than the raw level; 100 ms is five
  frames, two to three analyses agreeing.
- ``effort_floor_db = -6``: the effort path is for a voice that AGC kept at its
  usual level, not for one far under it (a voice in the background of a mono
  line, a side remark away from the microphone).
- Level and effort add up: once the level is more than ``WOBBLE_DB`` (3 dB, the
  calm wander above) over the baseline, the effort needed drops linearly, to
  half of ``effort.onset`` at ``onset_db``; so a voice 5 dB up needs three
  quarters of the effort.  Under 3 dB the level says nothing: on levelled
  telephone speech a neutral sentence's 0.4 s level is often 2-4 dB over the
  baseline, and with the lift starting at 0 dB ``benchmarks/effort.py`` flagged
  6 % of the neutral sentences instead of 1 %.  A level rise alone never fires
  below ``onset_db``.
- Either path keeps an active cue alive; it ends when both have been under
  their release (``release_db``; effort under half its onset) for ``release_ms``.

On a mono line (:mod:`audio.voices`) the level is compared with the loudest
known voice's baseline, and it counts only with at least ``LEVEL_CONFIRM``
(0.3) of effort beside it: some rise of both pitch and tilt.  A louder *other*
party is as likely to be lower or duller than the known voice as higher and
brighter; a voice that is raised rises in both (the loud turn of the mono
fixture shows about 0.7).  While the voice is not placed the level (either
window) must also clear its threshold by ``UNKNOWN_MARGIN_DB`` (2 dB): a
telephone AGC lets the first 0.4 s of a louder party's turn through several dB
over the quieter one (7.5 dB in the benchmark's AGC), and the level of the first
appearance of the other party should not be taken for a raise.  The effort path gets no help from the
level on a mono line.

Events keep ``db_over_baseline`` (of the level that fired: the 0.24 s one on
the quick way in; on ``raised_voice_end`` the 0.4 s peak) and add ``effort`` (the score when it fired,
``null`` before the voice's effort baseline is known) and ``by`` (``level``,
``effort`` or ``level+effort``).  The cue is a signal about a voice, never an
emotion label for a person.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import islice
from dataclasses import dataclass, field

from audio.effort import EffortParams
from audio.frames import FRAME_SECONDS
from audio.params import Ranged, ranged

_SUB = 5  # 100 ms sub-windows used to place the onset
WOBBLE_DB = 3.0  # calm speech's 0.4 s level wanders this far around its baseline
LEVEL_CONFIRM = 0.3  # mono: effort the voice must show beside a level rise
UNKNOWN_MARGIN_DB = 2.0  # mono: extra level needed while the voice is not placed


@dataclass(frozen=True)
class RaisedVoiceParams(Ranged):
    section = "raised_voice"
    onset_db: float = ranged(7.0, 1.0, 40.0)
    sustain_ms: int = ranged(200, 20, 5000)
    release_db: float = ranged(4.0, 0.0, 40.0)
    release_ms: int = ranged(500, 20, 10000)
    frame_margin_db: float = ranged(3.0, 0.0, 20.0)
    min_loud_ms: int = ranged(140, 20, 400)          # within the 0.4 s window
    fast_window_ms: int = ranged(240, 20, 3000)
    fast_margin_db: float = ranged(2.0, 0.0, 40.0)
    fast_sustain_ms: int = ranged(20, 20, 5000)
    effort_sustain_ms: int = ranged(100, 20, 5000)
    effort_floor_db: float = ranged(-6.0, -40.0, 20.0)
    effort: EffortParams = field(default_factory=EffortParams)

    def check(self) -> None:
        if not self.release_db <= self.onset_db:
            raise ValueError("raised_voice release_db must be between 0 and onset_db")


class RaisedVoiceDetector:
    """One speaker's raised-voice state machine.  Feed it every frame."""

    __slots__ = ("onset_db", "release_db", "_margin", "_loud", "_sustain", "_release", "_window",
                 "_fast_span", "_fast_margin", "_fast_sustain", "fast_above",
                 "_powers", "active", "above", "below", "start_t", "peak_db",
                 "_e_onset", "_e_release", "_e_least", "_e_sustain", "_e_floor", "_e_span", "e_above",
                 "e_start", "peak_effort", "effort_on", "level_needs_effort", "level_margin_db",
                 "level_effort")

    def __init__(self, params: RaisedVoiceParams, window_frames: int) -> None:
        self.onset_db = params.onset_db
        self.release_db = params.release_db
        self._margin = params.frame_margin_db
        self._loud = max(1, round(params.min_loud_ms / 1000 / FRAME_SECONDS))
        self._sustain = max(1, round(params.sustain_ms / 1000 / FRAME_SECONDS))
        self._release = max(1, round(params.release_ms / 1000 / FRAME_SECONDS))
        self._window = window_frames
        self._fast_span = max(1, round(params.fast_window_ms / 1000 / FRAME_SECONDS))
        self._fast_margin = params.fast_margin_db
        self._fast_sustain = max(1, round(params.fast_sustain_ms / 1000 / FRAME_SECONDS))
        self.fast_above = 0
        self._powers: deque[float] = deque(
            maxlen=max(window_frames, self._fast_span)
            + max(self._sustain, self._fast_sustain) + 2)
        ep = params.effort
        self.effort_on = ep.enabled
        self._e_onset = ep.onset
        self._e_release = ep.onset / 2
        self._e_least = ep.onset / 2            # the most the level can lower the need
        self._e_sustain = max(1, round(params.effort_sustain_ms / 1000 / FRAME_SECONDS))
        self._e_floor = params.effort_floor_db
        self._e_span = max(1, round(ep.window_ms / 1000 / FRAME_SECONDS))
        self.active = False
        self.above = 0
        self.below = 0
        self.start_t = 0.0
        self.peak_db = 0.0
        self.e_above = 0
        self.e_start = 0
        self.peak_effort: float | None = None
        self.level_needs_effort = False         # set by the front end on a mono line
        self.level_margin_db = 0.0              # ... and raised while a voice is not placed
        self.level_effort: float | None = None  # ... and the effort that confirms a level rise

    def silent(self, power: float) -> None:
        """Advance over a frame out of speech while no cue is active (the same as
        :meth:`step` with ``speaking=False``, for the common case)."""
        self._powers.append(power)
        self.above = self.e_above = self.fast_above = 0

    def effort_needed(self, over_db: float) -> float:
        """The effort score that fires at this level (see the module docstring)."""
        if self.level_needs_effort:             # mono: the level may be the other party's
            return self._e_onset
        lift = 0.5 * (over_db - WOBBLE_DB) / (self.onset_db - WOBBLE_DB)
        return self._e_onset * (1.0 - min(0.5, max(0.0, lift)))

    def step(self, i: int, power: float, over_db: float | None, baseline_db: float | None,
             speaking: bool, effort: float | None = None, speech_start: int = 0):
        """Advance to frame ``i``.

        ``power`` is this frame's mean square, ``over_db`` the short-term level
        minus the baseline (None while the baseline is not ready), ``effort`` the
        voice's effort score (None while unknown) and ``speech_start`` the first
        frame of the current speech segment.  Returns None,
        ``("start", t, over, effort, by)`` or ``("end", t_start, t_end, peak_over, peak_effort)``.
        """
        self._powers.append(power)
        if effort is not None and not self.effort_on:
            effort = None
        if not self.active:
            return self._idle(i, over_db, baseline_db, speaking, effort, speech_start)
        if over_db is not None and over_db > self.peak_db:
            self.peak_db = over_db
        if effort is not None and (self.peak_effort is None or effort > self.peak_effort):
            self.peak_effort = effort
        if speaking and ((over_db is not None and over_db >= self.release_db)
                         or (effort is not None and effort >= self._e_release)):
            self.below = 0
            return None
        self.below += 1
        if self.below >= self._release:
            self.active = False
            self.above = self.e_above = self.fast_above = 0
            t_end = (i - self._release + 1) * FRAME_SECONDS
            return ("end", self.start_t, t_end, self.peak_db, self.peak_effort)
        return None

    def _idle(self, i: int, over_db: float | None, baseline_db: float | None, speaking: bool,
              effort: float | None, speech_start: int):
        if not speaking or over_db is None:
            self.above = self.e_above = self.fast_above = 0
            return None
        need = self.onset_db + self.level_margin_db
        self.above = self.above + 1 if over_db >= need else 0
        short = self._short_over(baseline_db)
        self.fast_above = self.fast_above + 1 if short >= need + self._fast_margin else 0
        if (effort is not None and effort >= self._e_least and over_db >= self._e_floor
                and effort >= self.effort_needed(over_db)):
            if self.e_above == 0:
                self.e_start = max(speech_start, i - self._e_span + 1)
            self.e_above += 1
        else:
            self.e_above = 0
        by_level = ((self.above >= self._sustain or self.fast_above >= self._fast_sustain)
                    and self._loud_frames(baseline_db)
                    and (not self.level_needs_effort
                         or (self.level_effort is not None
                             and self.level_effort >= LEVEL_CONFIRM)))
        by_effort = self.e_above >= self._e_sustain
        if not (by_level or by_effort):
            return None
        self.active = True
        self.below = 0
        self.peak_effort = effort
        if by_level:
            if self.above >= self._sustain:
                self.start_t = self._onset_time(i, baseline_db, self._sustain)
            else:                               # the quick way: say the level that fired
                self.start_t = self._onset_time(i, baseline_db, self._fast_sustain)
                over_db = short
            by = "level+effort" if by_effort else "level"
        else:
            self.start_t = self.e_start * FRAME_SECONDS
            by = "effort"
        self.peak_db = over_db
        return ("start", self.start_t, over_db, effort, by)

    def _short_over(self, baseline_db: float) -> float:
        """Level of the last ``fast_window_ms`` over the baseline, dB."""
        span = min(len(self._powers), self._fast_span)
        mean = sum(islice(reversed(self._powers), span)) / span
        return 10.0 * math.log10(max(mean, 1e-10)) - baseline_db

    def _loud_frames(self, baseline_db: float) -> bool:
        """Enough individually loud frames in the last short-term window?"""
        floor = 10 ** ((baseline_db + self.onset_db - self._margin) / 10)
        n = len(self._powers)
        recent = [self._powers[k] for k in range(max(0, n - self._window), n)]
        return sum(1 for p in recent if p >= floor) >= self._loud

    def _onset_time(self, i: int, baseline_db: float, sustain: int) -> float:
        """Start of the first 100 ms stretch, within the 0.4 s window in which the
        level first crossed the threshold, that was itself over the threshold.

        That window's mean power is over the threshold, so at least one of its
        100 ms stretches is too: the search always succeeds.
        """
        crossing = i - sustain + 1
        powers = list(self._powers)
        end = len(powers) - 1 - (i - crossing)          # index of the crossing frame
        start = max(0, end - self._window + 1)
        threshold = 10 ** ((baseline_db + self.onset_db) / 10)
        need = threshold * _SUB
        for k in range(start, max(start, end - _SUB + 1) + 1):
            if sum(powers[k:k + _SUB]) >= need:
                return (crossing - (end - k)) * FRAME_SECONDS
        return crossing * FRAME_SECONDS
