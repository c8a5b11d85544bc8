"""Reading a recorded call: any format FFmpeg reads (wav, flac, ogg, mp3, m4a, ...)
through PyAV, decoded and resampled to 16 kHz float32 in chunks, so memory stays
flat however long the file is.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from audio.errors import AudioDecodeError, AudioInputError
from audio.frames import SAMPLE_RATE


@dataclass(frozen=True)
class FileInfo:
    path: str
    format: str
    codec: str
    input_rate: int
    channels: int
    duration: float | None    # seconds, from the container; None if unknown


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioInputError(f"{path}: no such file")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioInputError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: the file is empty")


class FileSource:
    """A recorded call, as (channels, n) float32 blocks at 16 kHz.

    ``decoded_seconds`` tells how much audio came out; a decoding error part-way
    raises :class:`AudioDecodeError` after every block before it was delivered.
    """

    def __init__(self, path: str | os.PathLike, chunk_seconds: float = 0.5) -> None:
        self.path = Path(path)
        _check_path(self.path)
        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
            raise AudioInputError(f"{self.path}: not an audio file calmline can read "
                                  f"({_reason(exc)})") from None
        streams = self._container.streams.audio
        if not streams:
            self._container.close()
            raise AudioInputError(f"{self.path}: contains no audio stream")
        self._stream = streams[0]
        ctx = self._stream.codec_context
        if ctx is None:     # PyAV gives no codec context when FFmpeg has no decoder for it
            self._container.close()
            raise AudioInputError(f"{self.path}: the audio codec is not supported (no decoder)")
        channels = ctx.channels if getattr(ctx, "channels", 0) else len(self._stream.layout.channels)
        if not ctx.sample_rate or not channels:
            self._container.close()
            raise AudioInputError(f"{self.path}: the audio stream has no sample rate or channels")
        duration = None
        if self._stream.duration is not None and self._stream.time_base is not None:
            duration = float(self._stream.duration * self._stream.time_base)
        elif self._container.duration is not None:
            duration = self._container.duration / 1_000_000
        self.info = FileInfo(str(self.path), self._container.format.name, ctx.name,
                             int(ctx.sample_rate), int(channels), duration)
        self._chunk = max(160, int(chunk_seconds * SAMPLE_RATE))
        self.decoded_samples = 0

    @property
    def decoded_seconds(self) -> float:
        return self.decoded_samples / SAMPLE_RATE

    def blocks(self) -> Iterator[np.ndarray]:
        channels = self.info.channels
        resampler: av.AudioResampler | None = None
        pending: list[np.ndarray] = []
        pending_n = 0
        self._failure: str | None = None
        try:
            for frame in self._decode():
                direct = _direct(frame, channels)
                if direct is not None:       # already 16 kHz: no resampler call per frame
                    pending.append(direct)
                    pending_n += direct.shape[1]
                    if pending_n >= self._chunk:
                        yield self._emit(pending)
                        pending, pending_n = [], 0
                    continue
                if resampler is None:
                    # Packed float, split into channels here: PyAV's to_ndarray() on a
                    # planar frame of 8 or more channels crashes the interpreter.
                    resampler = av.AudioResampler(format="flt", layout=frame.layout,
                                                  rate=SAMPLE_RATE)
                outs = self._resample(resampler, frame)
                if outs is None:
                    break
                for out in outs:
                    if len(out.layout.channels) != channels:
                        raise AudioDecodeError(f"{self.path}: channel count changed mid-stream")
                    arr = _planar(out, channels)
                    pending.append(arr)
                    pending_n += arr.shape[1]
                    if pending_n >= self._chunk:
                        yield self._emit(pending)
                        pending, pending_n = [], 0
            # Also after a decoding error: what was decoded before it is delivered
            # first, so no audio that could be read is lost.
            if resampler is not None:
                for out in self._resample(resampler, None) or []:
                    pending.append(_planar(out, channels))
            if pending:
                yield self._emit(pending)
            if self._failure is not None:
                raise AudioDecodeError(f"{self.path}: decoding failed after "
                                       f"{self.decoded_seconds:.1f} s of audio ({self._failure})")
            if self.decoded_samples == 0:
                raise AudioDecodeError(f"{self.path}: contains no audio samples")
        finally:
            self._container.close()

    def _emit(self, parts: list[np.ndarray]) -> np.ndarray:
        block = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
        self.decoded_samples += block.shape[1]
        return block

    def _resample(self, resampler: av.AudioResampler,
                  frame: av.AudioFrame | None) -> list[av.AudioFrame] | None:
        """Resampled frames, or None (noted in ``_failure``) if FFmpeg cannot convert
        the frame, e.g. an unsupported channel layout or a format change mid-stream."""
        try:
            return resampler.resample(frame)
        except (av.error.FFmpegError, ValueError) as exc:
            self._failure = self._failure or _reason(exc)
            return None

    def _decode(self) -> Iterator[av.AudioFrame]:
        """The decoded frames; a decoding error ends them and is noted in ``_failure``."""
        try:
            for packet in self._container.demux(self._stream):
                for frame in packet.decode():
                    yield frame
        except av.error.FFmpegError as exc:
            self._failure = _reason(exc)


#: sample format -> scale to float in [-1, 1), as FFmpeg's own conversion does.
_DIRECT_SCALE = {"s16": 1 / 32768, "s16p": 1 / 32768, "s32": 1 / 2147483648,
                 "s32p": 1 / 2147483648, "flt": 1.0, "fltp": 1.0}


def _direct(frame: av.AudioFrame, channels: int) -> np.ndarray | None:
    """A frame already at 16 kHz as a (channels, n) float32 array, converted in
    numpy (bit-identical to the resampler for these formats, at a fraction of the
    per-frame cost), or None when the resampler must do it (another rate or format,
    a channel-count change, or 8+ planar channels, which PyAV's to_ndarray()
    cannot take)."""
    fmt = frame.format
    scale = _DIRECT_SCALE.get(fmt.name)
    if (scale is None or frame.sample_rate != SAMPLE_RATE or channels >= 8
            or len(frame.layout.channels) != channels):
        return None
    arr = frame.to_ndarray()
    if not fmt.is_planar:
        arr = arr.reshape(-1, channels).T
    out = arr.astype(np.float32)
    if scale != 1.0:
        out *= np.float32(scale)
    return np.ascontiguousarray(out)


def _planar(frame: av.AudioFrame, channels: int) -> np.ndarray:
    """A packed float frame as a (channels, n) array."""
    return np.ascontiguousarray(frame.to_ndarray().reshape(-1, channels).T)


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.strip().splitlines()[0] if text and text.strip() else type(exc).__name__
