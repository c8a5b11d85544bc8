"""Loudness: per-frame dBFS, a short-term level, and each speaker's own baseline.

Levels are RMS relative to digital full scale (a full-scale square wave is
0 dBFS; a full-scale sine about -3 dBFS), floored at -100 dBFS.

*Short-term level* is the mean power over the last ``short_term_ms`` (0.4 s):
long enough to span a syllable or two, so one stressed consonant does not count
as shouting, short enough to follow a voice that rises mid-sentence.

*Baseline* is what this speaker's voice usually sounds like on this line.  It is
learned only from their own voiced frames at least ``settle_ms`` into a speech
segment (so the short-term window is full of speech, not of the silence before
it), never from silence or from the other party.  For the first
``warmup_s`` of learned speech it is the plain mean (a sensible value within
the first seconds of a call); after that an exponential average with time
constant ``tau_s`` of speech follows slow drift (a headset moved, a quieter
room).  While the speaker is above the raised-voice threshold the baseline
learns ``slow_factor`` times slower, so a shouting stretch does not quickly
become the new normal, yet someone who really is louder for minutes is
eventually absorbed.  The baseline is used once ``ready_s`` of speech has been
learned.  ``meter_ms`` is how often a ``level`` reading goes out for meters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audio.frames import FRAME_SAMPLES, FRAME_SECONDS
from audio.params import Ranged, ranged

FLOOR_DB = -100.0
_FLOOR_POWER = 10 ** (FLOOR_DB / 10)


@dataclass(frozen=True)
class LevelParams(Ranged):
    section = "level"
    short_term_ms: int = ranged(400, 100, 3000)
    settle_ms: int = ranged(400, 0, 3000)
    warmup_s: float = ranged(2.0, 0.2, 60)
    tau_s: float = ranged(30.0, 1, 3600)
    slow_factor: float = ranged(10.0, 1)
    ready_s: float = ranged(1.0, 0, 60)
    meter_ms: int = ranged(100, 20, 10_000)

    def frames(self, ms_or_s: float, *, seconds: bool = False) -> int:
        secs = ms_or_s if seconds else ms_or_s / 1000
        return max(1, round(secs / FRAME_SECONDS))


def frame_powers(pcm: np.ndarray) -> np.ndarray:
    """Mean square (full scale = 1) of each 20 ms frame of an int16 block."""
    x = pcm.reshape(-1, FRAME_SAMPLES).astype(np.float64) / 32768.0
    return np.einsum("ij,ij->i", x, x) / FRAME_SAMPLES


def power_db(power: np.ndarray | float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(power, _FLOOR_POWER))


class ShortTermLevel:
    """Moving mean of frame power over a fixed window, carried across blocks.

    ``update`` takes one speaker's powers, or a (speakers, n) array when built
    with ``speakers`` (each row is carried on separately)."""

    def __init__(self, window_frames: int, speakers: int | None = None) -> None:
        self.window = window_frames
        shape = (window_frames - 1,) if speakers is None else (speakers, window_frames - 1)
        self._tail = np.zeros(shape)

    def update(self, powers: np.ndarray) -> np.ndarray:
        """Short-term power at each frame of the block (window ending there)."""
        joined = np.concatenate([self._tail, powers], axis=-1)
        zero = np.zeros(joined.shape[:-1] + (1,))
        csum = np.concatenate([zero, np.cumsum(joined, axis=-1)], axis=-1)
        w = self.window
        out = (csum[..., w:] - csum[..., :-w]) / w
        self._tail = joined[..., joined.shape[-1] - (w - 1):] if w > 1 else joined[..., :0]
        return out


class Baseline:
    """One speaker's adaptive speech level, in dBFS (``None`` until learned)."""

    __slots__ = ("value", "learned", "_warm", "_alpha", "_slow", "ready_n")

    def __init__(self, params: LevelParams) -> None:
        self.value: float | None = None
        self.learned = 0
        self._warm = params.frames(params.warmup_s, seconds=True)
        self._alpha = FRAME_SECONDS / params.tau_s
        self._slow = self._alpha / params.slow_factor
        self.ready_n = params.frames(params.ready_s, seconds=True)   # frames learned to be ready

    @property
    def ready(self) -> bool:
        return self.learned >= self.ready_n

    def learn(self, level_db: float, slow: bool = False) -> None:
        n = self.learned + 1
        self.learned = n
        if self.value is None:
            self.value = level_db
        elif n <= self._warm:
            self.value += (level_db - self.value) / n
        else:
            self.value += (self._slow if slow else self._alpha) * (level_db - self.value)
