"""A telephone channel for the benchmarks: 300-3400 Hz, 8 kHz, G.711 mu-law, and a
simple automatic gain control.  numpy only; not part of calmline itself.

- ``band_limit``: FFT brick-wall band-pass 300-3400 Hz, then every second sample
  (8 kHz); ``to_16k`` brings it back by FFT zero-padding (calmline resamples
  everything to 16 kHz when it reads a file).
- ``mulaw``: encode to 8-bit mu-law (mu = 255, 256 levels) and decode again:
  the quantisation noise of a G.711 line.
- ``agc``: levels the signal towards ``target_dbfs`` with a gain that follows
  the level envelope of 10 ms frames (attack 30 ms, release 1 s, +/-24 dB at
  most, held in pauses under -50 dBFS).  Like a phone system's AGC, it flattens the
  difference between a calm and a shouted sentence, and between two parties.
"""

from __future__ import annotations

import numpy as np

SR = 16000
NARROW = 8000


def band_limit(x: np.ndarray, lo: float = 300.0, hi: float = 3400.0) -> np.ndarray:
    """16 kHz float in, 8 kHz float out, band-passed."""
    n = len(x)
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1.0 / SR)
    spec[(f < lo) | (f > hi)] = 0
    return np.fft.irfft(spec, n)[::2]


def to_16k(y: np.ndarray) -> np.ndarray:
    n = len(y) * 2
    spec = np.fft.rfft(y)
    out = np.zeros(n // 2 + 1, complex)
    out[:len(spec)] = spec
    return np.fft.irfft(out, n) * 2.0


def mulaw(y: np.ndarray, mu: float = 255.0) -> np.ndarray:
    """8-bit mu-law encode and decode (values in [-1, 1])."""
    y = np.clip(y, -1.0, 1.0)
    code = np.sign(y) * np.log1p(mu * np.abs(y)) / np.log1p(mu)
    q = np.round(code * 127.0) / 127.0
    return np.sign(q) * np.expm1(np.abs(q) * np.log1p(mu)) / mu


def agc(y: np.ndarray, rate: int = NARROW, target_dbfs: float = -20.0) -> np.ndarray:
    """Simple automatic gain control (see the module docstring)."""
    hop = rate // 100                                   # 10 ms
    n = len(y) // hop
    frames = y[:n * hop].reshape(n, hop)
    level = 10 * np.log10(np.mean(frames ** 2, axis=1) + 1e-12)
    gain_db = np.zeros(n)
    env = target_dbfs
    for k in range(n):
        if level[k] > -50.0:                            # follow speech, hold in pauses
            rate_k = 1.0 / 3 if level[k] > env else 1.0 / 100   # attack 30 ms, release 1 s
            env += rate_k * (level[k] - env)
        gain_db[k] = float(np.clip(target_dbfs - env, -24.0, 24.0))
    gains = np.repeat(10 ** (gain_db / 20), hop)
    out = y.copy()
    out[:n * hop] *= gains
    out[n * hop:] *= gains[-1] if n else 1.0
    return np.clip(out, -1.0, 1.0)


def telephone(x: np.ndarray, use_agc: bool = False) -> np.ndarray:
    """16 kHz in, 16 kHz out, as heard through a mu-law phone line (optionally AGC'd)."""
    y = band_limit(x)
    if use_agc:
        y = agc(y)
    return to_16k(mulaw(y)).astype(np.float32)


def active_rms_db(x: np.ndarray) -> float:
    """RMS over the 20 ms frames within 30 dB of the loudest (the speech, not the pauses)."""
    n = len(x) // 320
    p = np.mean(x[:n * 320].reshape(n, 320) ** 2, axis=1) + 1e-20
    db = 10 * np.log10(p)
    return float(10 * np.log10(np.mean(p[db > db.max() - 30])))


def set_rms(x: np.ndarray, dbfs: float) -> np.ndarray:
    return x * 10 ** ((dbfs - active_rms_db(x)) / 20)
