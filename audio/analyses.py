"""Which frames of a block are analysed for vocal effort, and their features.

An analysis covers 40 ms: a voiced frame of odd index (counted from the start
of the call) and the frame before it.  So a voiced stretch is analysed end to
end, without overlap, at half the frame rate, and which frames are analysed
does not depend on how the audio was cut into blocks (the frame before the
first of a block is carried over).

All speakers of a block go through :func:`audio.voice_features.analyse_8k` in
one batch: the analysed windows are gathered with one indexing operation,
brought to 8 kHz, and the features come back as plain lists for the frame
loop.  Unvoiced frames cost nothing here.
"""

from __future__ import annotations

import numpy as np

from audio.frames import FRAME_SAMPLES
from audio.pitch import PITCHED
from audio.voice_features import analyse_8k, decimate

HOP = 2                                  # an analysis every second frame
_PAIR = np.arange(2)
_NAN = float("nan")


class TrackAnalyses:
    """One speaker's analyses in the current block."""

    __slots__ = ("row", "low", "high", "f0")

    def __init__(self) -> None:
        self.row: list[int] = []         # per frame: index into low/high/f0, or -1
        self.low: list[float] = []       # energy under 1 kHz
        self.high: list[float] = []      # energy over 1 kHz
        self.f0: list[float] = []        # semitones, NaN when not clearly pitched


class BlockAnalyser:
    """Effort features of every speaker's voiced frames, block by block."""

    def __init__(self, speakers: int, enabled: bool = True) -> None:
        self.enabled = enabled
        self._tail = np.zeros((speakers, FRAME_SAMPLES), np.int16)
        self.tracks = [TrackAnalyses() for _ in range(speakers)]

    def run(self, pcm: np.ndarray, voiced: list[list[bool]], first_frame: int) -> None:
        """Analyse the block ``pcm`` (speakers, n * 320) whose frames start at
        ``first_frame``; ``voiced`` holds each speaker's raw VAD decisions."""
        n = pcm.shape[1] // FRAME_SAMPLES
        start = (HOP - 1 - first_frame) % HOP
        picks = [[j for j in range(start, n, HOP) if v[j]] if self.enabled else []
                 for v in voiced]
        for track, picked in zip(self.tracks, picks):
            track.row = [-1] * n
            for r, j in enumerate(picked):
                track.row[j] = r
        if not self.enabled:
            return
        tail = self._tail
        self._tail = pcm[:, -FRAME_SAMPLES:].copy()
        first = [k * (n + 1) + j for k, picked in enumerate(picks) for j in picked]
        if not first:
            return
        joined = np.concatenate([tail, pcm], axis=1)              # the frame before, first
        frames = joined.reshape(-1, FRAME_SAMPLES)                # row k * (n + 1) + j + 1: frame j
        pairs = frames[np.array(first)[:, None] + _PAIR]          # (m, 2, 320): frames j - 1, j
        windows = decimate(pairs.reshape(len(first), 2 * FRAME_SAMPLES))
        feats = analyse_8k(windows)
        f0 = feats.f0
        for r, p in enumerate(feats.prominence):
            if p < PITCHED:
                f0[r] = _NAN
        lo = 0
        for track, picked in zip(self.tracks, picks):
            hi = lo + len(picked)
            track.low, track.high, track.f0 = feats.low[lo:hi], feats.high[lo:hi], f0[lo:hi]
            lo = hi

