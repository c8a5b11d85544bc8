"""Raised voice: a speaker sustaining a level well above their own baseline.

Fires when, during speech, the speaker's short-term level (0.4 s) stays at least
``onset_db`` over *their own* baseline for ``sustain_ms``; ends once it has been
below ``release_db`` over baseline (or out of speech) for ``release_ms``.

Why these defaults:

- ``onset_db = 7``: within calm conversational speech the 0.4 s level of one
  talker wanders by about +/-3 dB around its mean (stress, vowels vs consonants),
  with emphatic words reaching +5 or so; a voice raised in anger sits 10 dB or
  more above its earlier level (the escalation fixture uses +12 dB).  7 dB is
  clear of the first and reliably under the second, even on telephone-band audio.
- ``sustain_ms = 200``: a single stressed syllable or a cough is shorter than
  that once the 0.4 s window has smoothed it; a shouted phrase is far longer.
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

The reported start is refined from the crossing of the 0.4 s level back to the
first 100 ms stretch that was itself over the threshold, so it lands on the
audible onset rather than on the moment the longer window caught up.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from audio.frames import FRAME_SECONDS

_SUB = 5  # 100 ms sub-windows used to place the onset


@dataclass(frozen=True)
class RaisedVoiceParams:
    onset_db: float = 7.0
    sustain_ms: int = 200
    release_db: float = 4.0
    release_ms: int = 500
    frame_margin_db: float = 3.0
    min_loud_ms: int = 140

    def __post_init__(self) -> None:
        if not 1.0 <= self.onset_db <= 40.0:
            raise ValueError("raised_voice onset_db must be between 1 and 40")
        if not 0.0 <= self.release_db <= self.onset_db:
            raise ValueError("raised_voice release_db must be between 0 and onset_db")
        if not (20 <= self.sustain_ms <= 5000 and 20 <= self.release_ms <= 10000):
            raise ValueError("raised_voice sustain_ms must be 20..5000 and release_ms 20..10000")
        if not 0.0 <= self.frame_margin_db <= 20.0:
            raise ValueError("raised_voice frame_margin_db must be between 0 and 20")
        if not 20 <= self.min_loud_ms <= 400:
            raise ValueError("raised_voice min_loud_ms must be between 20 and 400 (the 0.4 s window)")


class RaisedVoiceDetector:
    """One speaker's raised-voice state machine.  Feed it every frame."""

    __slots__ = ("onset_db", "release_db", "_margin", "_loud", "_sustain", "_release", "_window",
                 "_powers", "active", "above", "below", "start_t", "peak_db")

    def __init__(self, params: RaisedVoiceParams, window_frames: int) -> None:
        self.onset_db = params.onset_db
        self.release_db = params.release_db
        self._margin = params.frame_margin_db
        self._loud = max(1, round(params.min_loud_ms / 1000 / FRAME_SECONDS))
        self._sustain = max(1, round(params.sustain_ms / 1000 / FRAME_SECONDS))
        self._release = max(1, round(params.release_ms / 1000 / FRAME_SECONDS))
        self._window = window_frames
        self._powers: deque[float] = deque(maxlen=window_frames + self._sustain + 2)
        self.active = False
        self.above = 0
        self.below = 0
        self.start_t = 0.0
        self.peak_db = 0.0

    def step(self, i: int, power: float, over_db: float | None, baseline_db: float | None,
             speaking: bool):
        """Advance to frame ``i``.

        ``power`` is this frame's mean square, ``over_db`` the short-term level
        minus the baseline (None while the baseline is not ready).  Returns None,
        ``("start", t, over)`` or ``("end", t_start, t_end, peak_over)``.
        """
        self._powers.append(power)
        if not self.active:
            if speaking and over_db is not None and over_db >= self.onset_db:
                self.above += 1
                if self.above >= self._sustain and self._loud_frames(baseline_db):
                    self.active = True
                    self.below = 0
                    self.peak_db = over_db
                    self.start_t = self._onset_time(i, baseline_db)
                    return ("start", self.start_t, over_db)
            else:
                self.above = 0
            return None
        if over_db is not None and over_db > self.peak_db:
            self.peak_db = over_db
        if speaking and over_db is not None and over_db >= self.release_db:
            self.below = 0
            return None
        self.below += 1
        if self.below >= self._release:
            self.active = False
            self.above = 0
            t_end = (i - self._release + 1) * FRAME_SECONDS
            return ("end", self.start_t, t_end, self.peak_db)
        return None

    def _loud_frames(self, baseline_db: float) -> bool:
        """Enough individually loud frames in the last short-term window?"""
        floor = 10 ** ((baseline_db + self.onset_db - self._margin) / 10)
        n = len(self._powers)
        recent = [self._powers[k] for k in range(max(0, n - self._window), n)]
        return sum(1 for p in recent if p >= floor) >= self._loud

    def _onset_time(self, i: int, baseline_db: float) -> float:
        """Start of the first 100 ms stretch, within the 0.4 s window in which the
        level first crossed the threshold, that was itself over the threshold.

        That window's mean power is over the threshold, so at least one of its
        100 ms stretches is too: the search always succeeds.
        """
        crossing = i - self._sustain + 1
        powers = list(self._powers)
        end = len(powers) - 1 - (i - crossing)          # index of the crossing frame
        start = max(0, end - self._window + 1)
        threshold = 10 ** ((baseline_db + self.onset_db) / 10)
        need = threshold * _SUB
        for k in range(start, max(start, end - _SUB + 1) + 1):
            if sum(powers[k:k + _SUB]) >= need:
                return (crossing - (end - k)) * FRAME_SECONDS
        return crossing * FRAME_SECONDS
