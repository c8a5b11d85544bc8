"""Framing: the front end works on 20 ms frames of 16 kHz mono int16 per speaker.

Every timestamp in calmline comes from sample counts: frame ``i`` covers
``[i * FRAME_SECONDS, (i + 1) * FRAME_SECONDS)`` of the call's audio.
"""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000
FRAME_SAMPLES = 320                     # 20 ms
FRAME_SECONDS = FRAME_SAMPLES / SAMPLE_RATE
FRAME_BYTES = FRAME_SAMPLES * 2         # int16


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, clipping anything outside."""
    scaled = np.clip(samples, -1.0, 32767 / 32768) * 32768.0
    return np.rint(scaled).astype(np.int16)


class Framer:
    """Cuts a stream of (channels, n) float32 blocks into whole 20 ms frames.

    Keeps the remainder between blocks, so the frame grid does not depend on how
    the source happened to chunk the audio.
    """

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self._rest = np.zeros((channels, 0), dtype=np.float32)
        self.frames_out = 0

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add a block; return the whole frames now available, int16, shape
        (channels, n_frames * FRAME_SAMPLES)."""
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, n) block, got {block.shape}")
        data = np.concatenate([self._rest, block.astype(np.float32, copy=False)], axis=1)
        whole = data.shape[1] // FRAME_SAMPLES * FRAME_SAMPLES
        self._rest = data[:, whole:]
        self.frames_out += whole // FRAME_SAMPLES
        return to_int16(data[:, :whole])

    def flush(self) -> np.ndarray:
        """The last partial frame, zero-padded (or an empty array if none)."""
        if self._rest.shape[1] == 0:
            return np.zeros((self.channels, 0), dtype=np.int16)
        pad = FRAME_SAMPLES - self._rest.shape[1]
        data = np.pad(self._rest, ((0, 0), (0, pad)))
        self._rest = np.zeros((self.channels, 0), dtype=np.float32)
        self.frames_out += 1
        return to_int16(data)
