"""Synthetic test signals: a voice-like harmonic tone, quiet line noise, and a
helper that runs the front end over per-speaker signals."""

from __future__ import annotations

import numpy as np

from audio.frames import SAMPLE_RATE, FRAME_SAMPLES, to_int16
from audio.frontend import FrontEnd, FrontEndParams

SR = SAMPLE_RATE


def voice(seconds: float, dbfs: float, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A sustained voiced sound (harmonics of a wobbling f0, syllable-rate
    envelope) with RMS ``dbfs``; webrtcvad classifies it as speech."""
    t = np.arange(int(SR * seconds)) / SR
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t + seed))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    x = x * (0.6 + 0.4 * np.abs(np.sin(2 * np.pi * 3 * t + seed)))
    x = x / np.sqrt(np.mean(x ** 2)) * 10 ** (dbfs / 20)
    return x.astype(np.float32)


def noise(seconds: float, dbfs: float = -65.0, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0, 10 ** (dbfs / 20), int(SR * seconds)).astype(np.float32)


def track(*parts: tuple[str, float, float] | tuple[str, float]) -> np.ndarray:
    """Concatenate ('voice', seconds, dbfs) and ('gap', seconds) parts over line noise."""
    pieces = []
    for i, part in enumerate(parts):
        if part[0] == "voice":
            pieces.append(voice(part[1], part[2], seed=i))
        else:
            pieces.append(np.zeros(int(SR * part[1]), np.float32))
    x = np.concatenate(pieces)
    return x + noise(len(x) / SR, seed=len(parts))


def run(channels: list[np.ndarray], speakers: tuple[str, ...] | None = None,
        params: FrontEndParams | None = None, block_s: float = 0.5):
    """Run the front end over equal-length float signals; return all facts."""
    n = max(len(c) for c in channels)
    n = (n + FRAME_SAMPLES - 1) // FRAME_SAMPLES * FRAME_SAMPLES
    data = np.stack([np.pad(c, (0, n - len(c))) for c in channels])
    pcm = to_int16(data)
    if speakers is None:
        speakers = ("operator", "customer")[: len(channels)] if len(channels) > 1 else ("call",)
    fe = FrontEnd(speakers, params)
    step = int(block_s * SR) // FRAME_SAMPLES * FRAME_SAMPLES
    facts = []
    for start in range(0, n, step):
        facts += fe.process(pcm[:, start:start + step])
    facts += fe.finish()
    return facts


def of(facts, kind: str, speaker: str | None = "any"):
    return [f for f in facts if f.kind == kind and (speaker == "any" or f.speaker == speaker)]
