"""Audio pushed by a network stream (a phone system forking a call), delivered
to the pipeline as (channels, n) float32 blocks at 16 kHz, like the other sources.

Two threads meet here:

- the **network side** calls :meth:`StreamSource.push` (one channel, e.g. a
  Twilio track or an AudioSocket stream) or :meth:`StreamSource.push_frames`
  (all channels at once, e.g. AudioHook's interleaved stereo).  It never blocks:
  the samples go into a bounded queue (``queue_seconds`` of audio); when it is
  full the samples are dropped and counted.  :meth:`room` lets an asynchronous
  reader wait for space instead (back-pressure on the socket), so nothing is
  dropped while the pipeline keeps up.  :meth:`end` says the stream is over
  (with an ``error`` when it broke: the pipeline then ends the call with that
  error after everything received before it).
- the **pipeline side** iterates :meth:`blocks`.  Each channel is laid on one
  timeline at the input rate: a chunk that says where it belongs (``at``, in
  input samples, e.g. from a Twilio timestamp) is put there, a gap before it is
  filled with silence and an overlap is trimmed (both counted); a chunk without
  a position follows the channel's previous one (a channel's first chunk starts
  at the other channels' front).  A block goes out once every channel has the
  audio for it; a channel more than ``max_skew_s`` behind the others (the far
  end muted, or its stream not connected yet) is padded with silence so the
  call goes on (counted).  Blocks are resampled once to 16 kHz (PyAV, all
  channels together, so they stay sample-aligned).

Nothing here knows which party a channel is; the caller's channel map says so.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Iterator

import av
import numpy as np

from audio.errors import AudioDecodeError
from audio.frames import FRAME_SECONDS, SAMPLE_RATE

MAX_GAP_S = 10.0          # a timestamp jump larger than this is clamped (counted)


class StreamSource:
    """See the module docstring."""

    def __init__(self, channels: int, *, input_rate: int = 8000, description: str = "stream",
                 queue_seconds: float = 10.0, max_skew_s: float = 1.0) -> None:
        if channels not in (1, 2):
            raise ValueError("a stream has one or two channels")
        self.channels = channels
        self.input_rate = input_rate
        self.description = description
        self._cv = threading.Condition()
        self._items: deque[tuple[int, int | None, np.ndarray]] = deque()
        self._queued = 0
        self._max_queued = int(queue_seconds * input_rate) * channels
        self._max_skew = int(max_skew_s * input_rate)
        self._ended = False
        self._error: str | None = None
        # the pipeline side's timeline (input samples)
        self._bufs: list[list[np.ndarray]] = [[] for _ in range(channels)]
        self._end = [0] * channels
        self._seen = [False] * channels
        self._emitted = 0
        self._resampler = _Resampler(channels, input_rate)
        # counters (samples at the input rate)
        self.received = 0
        self.dropped = 0
        self.late = 0
        self.gaps = 0
        self.gaps_clamped = 0
        self.overlaps = 0
        self.padded = 0

    # --- network side ------------------------------------------------------------
    def push(self, channel: int, samples: np.ndarray, at: int | None = None) -> bool:
        """Queue one channel's samples (float32); False if they were dropped (counted)."""
        if not 0 <= channel < self.channels:
            raise ValueError(f"no channel {channel}")
        return self._put(channel, at, np.asarray(samples, dtype=np.float32))

    def push_frames(self, block: np.ndarray, at: int | None = None) -> bool:
        """Queue samples for every channel at once, shape (channels, n)."""
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected ({self.channels}, n) samples, got {block.shape}")
        return self._put(-1, at, np.asarray(block, dtype=np.float32))

    def _put(self, channel: int, at: int | None, samples: np.ndarray) -> bool:
        n = samples.size
        with self._cv:
            if self._ended:
                self.late += n
                return False
            self.received += n
            if self._queued + n > self._max_queued:
                self.dropped += n
                return False
            self._items.append((channel, at, samples))
            self._queued += n
            self._cv.notify()
        return True

    def room(self, samples: int = 0) -> bool:
        """Whether ``samples`` more fit in the queue now (for back-pressure)."""
        with self._cv:
            return self._queued + samples <= self._max_queued

    def end(self, error: str | None = None) -> None:
        """No more audio; ``error`` ends the call as broken (after what was received)."""
        with self._cv:
            if not self._ended:
                self._ended = True
                self._error = error
            self._cv.notify_all()

    @property
    def ended(self) -> bool:
        return self._ended

    # --- pipeline side -----------------------------------------------------------
    def blocks(self) -> Iterator[np.ndarray]:
        while True:
            with self._cv:
                while not self._items and not self._ended:
                    self._cv.wait(timeout=0.1)
                items = list(self._items)
                self._items.clear()
                self._queued = 0
                done = self._ended
            for channel, at, samples in items:
                if channel < 0:                # all channels together: one position
                    at = self._front() if at is None else at
                    for k in range(self.channels):
                        self._place(k, at, samples[k])
                else:
                    self._place(channel, at, samples)
            block = self._take(final=done)
            if block is not None:
                yield block
            if done:
                tail = self._resampler.flush()
                if tail is not None:
                    yield tail
                if self._error is not None:
                    raise AudioDecodeError(self._error)
                return

    def _place(self, k: int, at: int | None, samples: np.ndarray) -> None:
        if at is None:
            at = self._end[k] if self._seen[k] else self._front()
        if not self._seen[k]:
            self._seen[k] = True
            self._end[k] = max(self._end[k], self._emitted)
        if at > self._end[k]:
            gap = at - self._end[k]
            if gap > MAX_GAP_S * self.input_rate:
                self.gaps_clamped += 1
                gap = int(MAX_GAP_S * self.input_rate)
            self._bufs[k].append(np.zeros(gap, np.float32))
            self._end[k] += gap
            self.gaps += gap
        elif at < self._end[k]:
            cut = min(self._end[k] - at, samples.size)
            self.overlaps += cut
            samples = samples[cut:]
        if samples.size:
            self._bufs[k].append(samples)
            self._end[k] += samples.size

    def _front(self) -> int:
        """Where audio without a position starts on a channel not heard yet."""
        return max([self._emitted] + [e for e, seen in zip(self._end, self._seen) if seen])

    def _take(self, *, final: bool) -> np.ndarray | None:
        front = max(self._end)
        floor = front if final else front - self._max_skew
        for k in range(self.channels):
            if self._end[k] < floor:              # far behind (or over): pad with silence
                pad = floor - self._end[k]
                self._bufs[k].append(np.zeros(pad, np.float32))
                self._end[k] = floor
                if not final:
                    self.padded += pad
        ready = min(self._end)
        n = ready - self._emitted
        if n <= 0:
            return None
        out = np.zeros((self.channels, n), np.float32)
        for k in range(self.channels):
            data = np.concatenate(self._bufs[k]) if len(self._bufs[k]) != 1 else self._bufs[k][0]
            out[k] = data[:n]
            self._bufs[k] = [data[n:]] if data.size > n else []
        self._emitted = ready
        return self._resampler(out)

    def stats(self) -> dict[str, object]:
        rate = float(self.input_rate * max(1, self.channels))
        return {
            "frames_dropped": int(round(self.dropped / rate / FRAME_SECONDS)),
            "stream": {
                "received_s": round(self.received / rate, 2),
                "dropped_s": round(self.dropped / rate, 3),
                "after_end_s": round(self.late / rate, 3),
                "gaps_filled_s": round(self.gaps / self.input_rate, 3),
                "gaps_clamped": self.gaps_clamped,
                "overlaps_trimmed_s": round(self.overlaps / self.input_rate, 3),
                "padded_s": round(self.padded / self.input_rate, 3),
            },
        }


class _Resampler:
    """Input rate -> 16 kHz for all channels at once (PyAV/libswresample)."""

    def __init__(self, channels: int, rate: int) -> None:
        self.channels, self.rate = channels, rate
        self.layout = "mono" if channels == 1 else "stereo"
        self._r = (av.AudioResampler(format="fltp", layout=self.layout, rate=SAMPLE_RATE)
                   if rate != SAMPLE_RATE else None)

    def __call__(self, block: np.ndarray) -> np.ndarray | None:
        if self._r is None:
            return block
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format="fltp",
                                           layout=self.layout)
        frame.sample_rate = self.rate
        return self._join(self._r.resample(frame))

    def flush(self) -> np.ndarray | None:
        return self._join(self._r.resample(None)) if self._r is not None else None

    def _join(self, frames: list) -> np.ndarray | None:
        parts = [f.to_ndarray().reshape(self.channels, -1) for f in frames]
        if not parts:
            return None
        out = np.concatenate(parts, axis=1).astype(np.float32, copy=False)
        return out if out.shape[1] else None
