"""G.711 mu-law, the phone network's 8-bit audio (PCMU).

Decoding is one 256-entry lookup table (numpy indexing, no Python loop per
sample); encoding is the standard segment search, vectorised.  Decoded samples
are float32 in [-1, 1) (int16 / 32768), the convention the rest of ``audio/``
uses.  Every byte value is a valid mu-law sample, so decoding cannot fail.

    samples = decode(payload_bytes)          # (n,) float32
    payload = encode(samples)                # bytes, one per sample
"""

from __future__ import annotations

import numpy as np

_BIAS = 0x84
_CLIP = 32635
_SEGMENT_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def _table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    linear = np.where(sign != 0, -magnitude, magnitude)
    return linear.astype(np.int16)


#: mu-law byte -> 16-bit linear sample
LINEAR = _table()
_FLOAT = (LINEAR.astype(np.float32) / 32768.0)


def decode(payload: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """mu-law bytes -> float32 samples in [-1, 1)."""
    codes = np.frombuffer(payload, dtype=np.uint8) if not isinstance(payload, np.ndarray) else payload
    return _FLOAT[codes]


def decode_int16(payload: bytes | bytearray | memoryview) -> np.ndarray:
    """mu-law bytes -> int16 samples."""
    return LINEAR[np.frombuffer(payload, dtype=np.uint8)]


def encode(samples: np.ndarray) -> bytes:
    """Float samples in [-1, 1] (or int16) -> mu-law bytes."""
    if samples.dtype.kind == "f":
        linear = np.clip(np.rint(samples * 32768.0), -32768, 32767).astype(np.int32)
    else:
        linear = samples.astype(np.int32)
    # the classic 14-bit formulation (G.711, as in Sun's g711.c): negative values
    # keep the arithmetic shift's rounding, so the codes match the reference encoder
    value = linear >> 2
    mask = np.where(value < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(value), _CLIP >> 2) + (_BIAS >> 2)
    segment = np.searchsorted(_SEGMENT_END, magnitude)
    code = ((segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)) ^ mask
    return code.astype(np.uint8).tobytes()
