"""Synthetic voices whose vocal effort can be set: pitch and spectral slope.

A calm voice has a steep spectrum (harmonic k at amplitude 1/k**0.9) at its
usual pitch; a raised one has a flatter spectrum (1/k**0.3) and a higher pitch,
at the *same* RMS, as a telephone AGC would deliver it.  Harmonics stop under
3.8 kHz, a syllable-rate envelope and a slow pitch drift make webrtcvad call it
speech.  Also: a telephone channel (8 kHz, 300-3400 Hz, G.711 mu-law) for the
tests, in numpy.
"""

from __future__ import annotations

import numpy as np

from audio.frames import SAMPLE_RATE

SR = SAMPLE_RATE
CALM_SLOPE = 0.9
RAISED_SLOPE = 0.3


def voiced(seconds: float, dbfs: float, f0: float = 120.0, slope: float = CALM_SLOPE,
           seed: int = 0) -> np.ndarray:
    """A voiced sound with RMS ``dbfs``, pitch ``f0`` and harmonic slope ``slope``."""
    t = np.arange(int(SR * seconds)) / SR
    rng = np.random.default_rng(seed)
    f = f0 * (1 + 0.03 * np.sin(2 * np.pi * 0.9 * t + seed) + 0.01 * np.sin(2 * np.pi * 5.3 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    top = int(3800 / (f0 * 1.1))
    x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k ** slope for k in range(1, top + 1))
    x = x * (0.55 + 0.45 * np.abs(np.sin(2 * np.pi * 2.5 * t + seed)))
    return (x / np.sqrt(np.mean(x ** 2)) * 10 ** (dbfs / 20)).astype(np.float32)


def gap(seconds: float) -> np.ndarray:
    return np.zeros(int(SR * seconds), np.float32)


def mulaw_line(x: np.ndarray) -> np.ndarray:
    """16 kHz in and out, through 300-3400 Hz at 8 kHz and 8-bit mu-law."""
    n = len(x) // 2 * 2
    spec = np.fft.rfft(x[:n].astype(np.float64))
    freqs = np.fft.rfftfreq(n, 1.0 / SR)
    spec[(freqs < 300) | (freqs > 3400)] = 0
    y = np.fft.irfft(spec, n)[::2]
    mu = 255.0
    code = np.round(np.sign(y) * np.log1p(mu * np.minimum(np.abs(y), 1.0)) / np.log1p(mu) * 127)
    y = np.sign(code) * np.expm1(np.abs(code) / 127 * np.log1p(mu)) / mu
    up = np.zeros(n // 2 + 1, complex)
    narrow = np.fft.rfft(y)
    up[:len(narrow)] = narrow
    return (np.fft.irfft(up, n) * 2).astype(np.float32)
