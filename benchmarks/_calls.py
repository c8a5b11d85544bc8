"""Helpers shared by the benchmarks: decoding fixtures, writing long test calls,
loading the model once, percentiles.

Imported by the scripts in this folder (run as ``.venv/bin/python benchmarks/X.py``,
so this folder is on ``sys.path``); not part of calmline itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import av  # noqa: E402

from audio.file_source import FileSource  # noqa: E402
from audio.frames import SAMPLE_RATE, to_int16  # noqa: E402

FIXTURES = ROOT / "fixtures"


def fixture(name: str) -> Path:
    """``escalation`` -> fixtures/escalation.flac; a path is returned as is."""
    p = Path(name)
    if p.suffix or p.exists():
        return p
    return FIXTURES / f"{name}.flac"


def decode(path: str | Path) -> np.ndarray:
    """The whole file as (channels, n) float32 at 16 kHz, as calmline reads it."""
    return np.concatenate(list(FileSource(path).blocks()), axis=1)


def as_model_input(samples: np.ndarray) -> np.ndarray:
    """Float audio quantised the way the pipeline hands it to the model
    (front end frames are int16; the endpointer divides by 32768)."""
    return to_int16(samples).astype(np.float32) / 32768.0


def write_flac(path: str | Path, pieces: Iterable[np.ndarray], channels: int) -> float:
    """Write (channels, n) float blocks as 16-bit 16 kHz FLAC, streaming (memory
    stays flat however long the file).  Returns the seconds written."""
    layout = {1: "mono", 2: "stereo"}[channels]
    n_total = 0
    with av.open(str(path), mode="w", format="flac") as out:
        stream = out.add_stream("flac", rate=SAMPLE_RATE, layout=layout)
        stream.format = "s16"
        for block in pieces:
            # packed s16: one row, channels interleaved
            packed = np.ascontiguousarray(to_int16(block).T).reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(packed, format="s16", layout=layout)
            frame.sample_rate = SAMPLE_RATE
            frame.pts = n_total
            n_total += block.shape[1]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return n_total / SAMPLE_RATE


def tiled(clips: list[np.ndarray], seconds: float, block_s: float = 10.0):
    """Blocks of the clips played one after another, repeated, cut at ``seconds``."""
    left = int(round(seconds * SAMPLE_RATE))
    block = int(block_s * SAMPLE_RATE)
    while left > 0:
        for clip in clips:
            for start in range(0, clip.shape[1], block):
                piece = clip[:, start:start + block][:, :left]
                left -= piece.shape[1]
                yield piece
                if left <= 0:
                    return


def load_model(cfg):
    """The configured Whisper model, loaded the way ``calmline replay`` loads it."""
    from monitor.asr.model_load import load_whisper

    m = cfg.model
    return load_whisper(m.name, m.device, m.resolved_compute_type, m.threads,
                        say=lambda msg: print(f"  ({msg})", file=sys.stderr))


def pct(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")
