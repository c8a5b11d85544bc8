"""Fundamental frequency (F0) and how clearly the voice is periodic, from the cepstrum.

Input is a batch of log magnitude spectra of 40 ms windows at 8 kHz (25 Hz bins)
restricted to the telephone band (see :mod:`audio.voice_features`); output is
F0 in semitones and the cepstral peak prominence, vectorised over the batch.

Why the cepstrum and not the autocorrelation: telephone audio has no energy
under 300 Hz, so a man's fundamental (100-130 Hz) and often his second harmonic
are missing, and one strong harmonic near the first formant makes the
autocorrelation nearly periodic at a fraction of the true period (measured on
EmoDB through a 300-3400 Hz channel: a third of a male speaker's frames came out
near 300 Hz).  The log spectrum gives every harmonic about the same weight, so
the cepstral peak sits at the true period whether or not the fundamental is
present.

Only the quefrencies of the search range are needed, and everything done to
them before the peak search is linear (removing the spectrum's mean, the cosine
transform of the real, even log spectrum, removing the cepstrum's mean and
slope over the range), so it is all one precomputed matrix
(:func:`cepstrum_table`) and one matrix product per batch.

- Search range 70-400 Hz (quefrency 2.5-14.3 ms): low male voices to a woman
  shouting; a 40 ms window holds 2.8 periods even at 70 Hz.  Above 400 Hz the
  tail of the spectral envelope, which rises towards short quefrencies, makes
  false peaks (with 450 Hz as the limit, one analysis in five of a synthetic
  male voice came out near 440 Hz; with 400 Hz, one in twenty).
- The cepstrum over the range is detrended (mean and slope removed), and a
  peak on either edge of the range counts as no peak: it is that tail, or a
  period longer than the window can show.
- ``prominence``: height of the peak in standard deviations of the detrended
  cepstrum over the range.  White noise gives a median of 2.5 (3 % of its
  analyses reach 3.5); a synthetic held vowel 6-8, through a mu-law line too.
  :data:`PITCHED` = 3.5 keeps about half of the analyses of running telephone
  speech (EmoDB through the benchmark's channel), and their F0 gathers around
  the speaker's own (see ``effort.PITCH_ABOVE_ST`` for the outliers that remain).
- The search moves in whole samples of quefrency: steps of 0.2 semitone at
  100 Hz, 0.4 at 200 Hz and 0.8 at 400 Hz, fine enough for rises measured
  against thresholds of several semitones, as medians of several analyses.
"""

from __future__ import annotations

import numpy as np

RATE = 8000                     # the analysis rate (see audio.voice_features)
F0_MIN, F0_MAX = 70.0, 400.0
Q_LO = RATE / F0_MAX            # 20 samples
Q_HI = RATE / F0_MIN            # 114.3 samples
Q_STEP = 1.0                    # quefrency step of the search, in samples
PITCHED = 3.5
REF_HZ = 100.0                  # semitones are counted from 100 Hz
_Q = np.arange(Q_LO, Q_HI + Q_STEP, Q_STEP)
_M = len(_Q)
_F0_ST = 12.0 * np.log2(RATE / REF_HZ / _Q)              # F0 of each searched quefrency
_INSIDE = np.ones(_M)
_INSIDE[[0, -1]] = 0.0                                     # a peak on an edge is no peak
ROWS = 16


def semitones(hz: np.ndarray | float) -> np.ndarray:
    """Hz to semitones above :data:`REF_HZ`."""
    return 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / REF_HZ)


def cepstrum_table(bins: np.ndarray, n: int) -> np.ndarray:
    """(len(bins), _M) matrix: a log magnitude spectrum known at ``bins`` (of an
    ``n``-point transform) times it gives its cepstrum at the searched
    quefrencies, computed with the spectrum's mean removed, then detrended."""
    table = (2.0 / n) * np.cos(2.0 * np.pi * np.outer(bins, _Q) / n)
    table -= table.mean(axis=0, keepdims=True)          # spectrum mean removed
    ramp = np.stack([np.ones(_M), _Q - _Q.mean()], axis=1)
    detrend = np.eye(_M) - ramp @ np.linalg.pinv(ramp)    # cepstrum mean and slope removed
    return table @ detrend


def cepstrum(log_magnitude: np.ndarray, table: np.ndarray) -> np.ndarray:
    """``log_magnitude @ table``, in slices of at most :data:`ROWS` rows.

    Each slice stays a small matrix product, which OpenBLAS runs on the calling
    thread; a larger one is handed to its thread pool, and on a busy two-core
    machine waking those threads cost twenty times the arithmetic (a 5-minute
    stereo call: 65 ms instead of 3.7 ms)."""
    n = len(log_magnitude)
    if n <= ROWS:
        return log_magnitude @ table
    return np.concatenate([log_magnitude[i:i + ROWS] @ table for i in range(0, n, ROWS)])


def cepstral_pitch(ceps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F0 (semitones re 100 Hz) and cepstral peak prominence of each row of a
    detrended cepstrum over the searched quefrencies
    (``log_magnitude @ cepstrum_table(...)``).

    (Written with few numpy calls: it runs once per block of audio on a few
    dozen rows, where call overhead, not arithmetic, is the cost.)"""
    k = ceps.argmax(axis=1)
    peak = ceps.max(axis=1)
    sd = np.sqrt(np.einsum("ij,ij->i", ceps, ceps) / _M) + 1e-9
    return _F0_ST[k], peak / sd * _INSIDE[k]
