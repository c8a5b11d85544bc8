"""Level-independent voice features of 40 ms windows, within the telephone band.

One *analysis* covers two 20 ms frames (40 ms).  Everything is vectorised over a
batch of windows (all analyses of a block, all speakers at once).

The window is brought to 8 kHz by averaging sample pairs (a two-tap low-pass:
-2 dB at 3.4 kHz; a wide-band call's 4-8 kHz fricative noise is folded down,
attenuated), Hann-windowed and transformed (320 points, 25 Hz bins).  Only
300-3400 Hz is used, so a wide-band headset and an 8 kHz mu-law line give the
same kind of numbers.  What vocal effort uses is a ratio (tilt) or a period
(pitch): a gain change (AGC, a headset moved) leaves it unchanged.

- ``low`` and ``high``: energy in 300-1000 Hz and in 1000-3400 Hz; their ratio
  in dB is the spectral *tilt* (an alpha ratio inside the phone band, see
  :func:`tilt_db`; the energies themselves only weight the analyses of a
  window).  Raised vocal effort makes the glottal pulse sharper, which lifts the
  upper harmonics relative to the lower ones: measured on EmoDB through a
  telephone channel, angry sentences sit 4-8 dB above the same speaker's neutral
  ones while loudness is levelled away.
- ``f0`` (semitones re 100 Hz) and ``prominence`` from :mod:`audio.pitch`:
  shouting raises the pitch (EmoDB: 6-12 semitones over neutral).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from audio.frames import FRAME_SAMPLES
from audio.pitch import RATE, cepstral_pitch, cepstrum, cepstrum_table

WINDOW = 2 * FRAME_SAMPLES          # 640 samples at 16 kHz = 40 ms
N = WINDOW // 2                     # 320 samples at 8 kHz
_BIN_HZ = RATE / N                  # 25 Hz
_FREQS = np.arange(N // 2 + 1) * _BIN_HZ
_HANN = np.hanning(N).astype(np.float32)
BAND = (300.0, 3400.0)
SPLIT = 1000.0
_IN_BAND = slice(int(np.ceil(BAND[0] / _BIN_HZ)), int(BAND[1] / _BIN_HZ) + 1)
_CEPS = cepstrum_table(np.arange(N // 2 + 1)[_IN_BAND], N).astype(np.float32)
_BANDS = np.stack([(_FREQS >= BAND[0]) & (_FREQS < SPLIT),
                   (_FREQS >= SPLIT) & (_FREQS <= BAND[1])], axis=1).astype(np.float32)
_EPS = np.float32(1e-2)                            # int16 scale: far under any voice


class Features(NamedTuple):
    """Per analysis, as plain lists (the frame loop reads them one by one)."""

    low: list[float]         # energy 300-1000 Hz (int16 scale)
    high: list[float]        # energy 1000-3400 Hz
    f0: list[float]          # semitones re 100 Hz
    prominence: list[float]  # cepstral peak prominence


def decimate(pcm: np.ndarray) -> np.ndarray:
    """16 kHz int16 samples (last axis) to 8 kHz float32, by summing sample pairs."""
    out = pcm[..., 0::2].astype(np.float32)
    out += pcm[..., 1::2]
    return out


def analyse(windows: np.ndarray) -> Features:
    """Features of each row of ``windows``: int16 samples, shape (n, 640) at 16 kHz."""
    return analyse_8k(decimate(windows))


def analyse_8k(windows: np.ndarray) -> Features:
    """Features of each row of ``windows``: :func:`decimate`-d, shape (n, 320)."""
    if len(windows) == 0:
        return Features([], [], [], [])
    mag = np.abs(np.fft.rfft(windows * _HANN, axis=1))
    mag += _EPS
    f0, prominence = cepstral_pitch(cepstrum(np.log(mag[:, _IN_BAND]), _CEPS))
    mag *= mag
    bands = mag @ _BANDS
    return Features(bands[:, 0].tolist(), bands[:, 1].tolist(), f0.tolist(), prominence.tolist())


def tilt_db(low: float, high: float) -> float:
    """Spectral tilt: energy over 1 kHz relative to energy under it, in dB."""
    return 10.0 * math.log10((high + 1e-9) / (low + 1e-9))
