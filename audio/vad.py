"""Voice activity: webrtcvad decisions per 20 ms frame, with start and stop hysteresis.

Raw webrtcvad decisions flicker on consonants, breaths and line noise.  A speaker
is *in speech* once ``start_voiced`` of the last ``start_window`` frames were
voiced (default 3 of 5: about 60 ms of voice within 100 ms), and the speech
started at the first voiced frame of that window.  Speech ends after
``hangover_ms`` (default 300 ms) without a voiced frame; it ended at the end of
the last voiced frame.  Frames quieter than ``min_dbfs`` are never voiced, which
keeps faint hiss and far-away chatter out without calling the VAD on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from audio.frames import FRAME_BYTES, FRAME_SECONDS, SAMPLE_RATE
from audio.params import Ranged, ranged

NO_CHANGE, STARTED, ENDED = 0, 1, 2


@dataclass(frozen=True)
class VadParams(Ranged):
    section = "vad"
    aggressiveness: int = ranged(2, 0, 3)
    start_voiced: int = ranged(3, 1, 50)
    start_window: int = ranged(5, 1, 50)
    hangover_ms: int = ranged(300, 20, 5000)
    min_dbfs: float = ranged(-55.0, -100.0, 0.0)

    def check(self) -> None:
        if self.start_voiced > self.start_window:
            raise ValueError("vad start_voiced must be between 1 and start_window (<= 50)")

    @property
    def hangover_frames(self) -> int:
        return max(1, round(self.hangover_ms / 1000 / FRAME_SECONDS))


class VoiceActivity:
    """One speaker's voice activity state."""

    __slots__ = ("params", "_vad", "_mask", "_wmask", "_need", "_hang",
                 "in_speech", "start_frame", "last_voiced")

    def __init__(self, params: VadParams) -> None:
        self.params = params
        self._vad = webrtcvad.Vad(params.aggressiveness)
        self._mask = 0
        self._wmask = (1 << params.start_window) - 1
        self._need = params.start_voiced
        self._hang = params.hangover_frames
        self.in_speech = False
        self.start_frame = -1
        self.last_voiced = -10**9

    def classify(self, pcm: np.ndarray, dbfs: np.ndarray) -> list[bool]:
        """Raw voiced/unvoiced decision for each frame of an int16 block."""
        buf = memoryview(np.ascontiguousarray(pcm).tobytes())
        is_speech = self._vad.is_speech
        loud = (dbfs >= self.params.min_dbfs).tolist()
        return [
            bool(ok) and is_speech(buf[k * FRAME_BYTES:(k + 1) * FRAME_BYTES], SAMPLE_RATE)
            for k, ok in enumerate(loud)
        ]

    def rest(self) -> None:
        """:meth:`step` for an unvoiced frame out of speech (the common case)."""
        self._mask = (self._mask << 1) & self._wmask

    def step(self, i: int, voiced: bool) -> int:
        """Advance to frame ``i``; returns NO_CHANGE, STARTED or ENDED."""
        if voiced:
            self.last_voiced = i
        if self.in_speech:
            if i - self.last_voiced >= self._hang:
                self.in_speech = False
                return ENDED
            return NO_CHANGE
        mask = ((self._mask << 1) | voiced) & self._wmask
        if voiced and mask.bit_count() >= self._need:
            self.in_speech = True
            self.start_frame = i - mask.bit_length() + 1
            self._mask = 0
            return STARTED
        self._mask = mask
        return NO_CHANGE
