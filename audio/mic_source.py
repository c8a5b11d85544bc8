"""Live capture through sounddevice (PortAudio): the operator's headset
microphone and, optionally, a second input carrying the far end (a loopback or
monitor device).

- sounddevice is imported only when a device is opened or listed, so replay
  works on machines without PortAudio.
- Each input is opened at the device's native rate and resampled once to 16 kHz.
- Streams are opened for low latency (PortAudio's ``latency="low"``: the device's
  low input latency, not its default "high" one, which on a PulseAudio or ALSA
  plug device buffers hundreds of milliseconds) with small blocks (10 ms), and
  whatever has arrived is handed on at once, so audio reaches the detectors
  within a block or two of being captured (``benchmarks/live_latency.py``
  measures it against a bare stream on the same device).
- The call's audio starts when the last input has started: a sound server can
  take a second or more to deliver the first block, and two inputs never start
  together.  Audio an input captured before that moment is left out, so the two
  channels line up (within a block) and audio time 0 is a known moment
  (``started_at``, also told to ``on_start``): latency is measured from there.
  When each input started is read from the clock, not from its first callback
  (:mod:`audio.input_clock`): a stream opened on a busy machine can deliver a
  backlog in its first burst, so the call starts once every input has delivered
  for ``SETTLE_S``.
- Audio an input loses before it reaches us (a sound server's overrun) is put
  back as silence once the clock shows it missing, so the channels stay in line;
  it is counted with the dropped frames (``input_gaps`` says how often).
- The PortAudio callback only copies the block into a bounded queue and returns;
  when the queue is full the block is dropped and counted, never waited for, and
  silence takes its place.  Input overflows reported by PortAudio are counted too.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import av
import numpy as np

from audio.errors import AudioInputError
from audio.frames import FRAME_SECONDS, SAMPLE_RATE
from audio.input_clock import InputClock

SETTLE_S = 0.3      # every input delivering this long before the call starts
_PORTAUDIO_HINT = "install PortAudio (Debian/Ubuntu: sudo apt install libportaudio2)"


def load_sounddevice() -> Any:
    """Import sounddevice, turning a missing PortAudio into a clear error."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioInputError(f"PortAudio is not available ({exc}); {_PORTAUDIO_HINT}") from None
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise AudioInputError(f"the sounddevice package is missing ({exc})") from None
    return sounddevice


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    hostapi: str
    channels: int
    default_rate: int


def list_input_devices(sd: Any = None) -> list[InputDevice]:
    sd = sd or load_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except Exception as exc:  # PortAudioError and friends
        raise AudioInputError(f"cannot list audio devices: {exc}") from None
    out = []
    for index, dev in enumerate(devices):
        if dev["max_input_channels"] > 0:
            api = hostapis[dev["hostapi"]]["name"] if dev["hostapi"] < len(hostapis) else "?"
            out.append(InputDevice(index, dev["name"], api, int(dev["max_input_channels"]),
                                   int(dev["default_samplerate"])))
    return out


def find_device(spec: str | int | None, sd: Any = None) -> InputDevice:
    """An input device by index, by (part of its) name, or the default (None)."""
    sd = sd or load_sounddevice()
    devices = list_input_devices(sd)
    if not devices:
        raise AudioInputError("no audio input devices found (no sound card, or no "
                              "permission to use it); `calmline devices` lists what PortAudio sees")
    if spec is None or spec == "":
        default = sd.default.device[0] if isinstance(sd.default.device, (list, tuple)) else sd.default.device
        for dev in devices:
            if dev.index == default:
                return dev
        return devices[0]
    text = str(spec).strip()
    if text.isdigit():
        for dev in devices:
            if dev.index == int(text):
                return dev
        raise AudioInputError(f"no input device with index {text}; see `calmline devices`")
    matches = [dev for dev in devices if text.lower() in dev.name.lower()]
    if not matches:
        raise AudioInputError(f"no input device matches {text!r}; see `calmline devices`")
    exact = [dev for dev in matches if dev.name.lower() == text.lower()]
    if len(exact) == 1:
        return exact[0]
    if len(matches) > 1:
        names = "; ".join(f"{d.index}: {d.name}" for d in matches[:5])
        raise AudioInputError(f"{text!r} matches several input devices ({names}); "
                              "give the index instead")
    return matches[0]


class Capture:
    """One input stream: the callback side and its bounded queue."""

    def __init__(self, device: InputDevice, queue_seconds: float, block_ms: int) -> None:
        self.device = device
        self.rate = device.default_rate
        self.blocksize = max(1, int(self.rate * block_ms / 1000))
        self.queue: queue.Queue[tuple[float, int, np.ndarray]] = queue.Queue(
            maxsize=max(2, int(queue_seconds * 1000 / block_ms)))
        self.dropped_samples = 0
        self.overflows = 0
        self.clock = time.monotonic
        self.stream: Any = None

    def callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """Runs on PortAudio's thread: copy, enqueue with its arrival time and the
        drops so far (so the consumer puts silence where they were), return.
        Never blocks."""
        if status and getattr(status, "input_overflow", False):
            self.overflows += 1
        try:
            self.queue.put_nowait((self.clock(), self.dropped_samples,
                                   indata[:, 0].astype(np.float32, copy=True)))
        except queue.Full:
            self.dropped_samples += frames

    def open(self, sd: Any) -> None:
        try:
            self.stream = sd.InputStream(device=self.device.index, channels=1,
                                         samplerate=self.rate, dtype="float32",
                                         blocksize=self.blocksize, latency="low",
                                         callback=self.callback)
            self.stream.start()
        except Exception as exc:
            raise AudioInputError(f"cannot open input device {self.device.index} "
                                  f"({self.device.name}): {exc}") from None

    def close(self) -> None:
        if self.stream is not None:
            try:
                self.stream.stop()
                self.stream.close()
            finally:
                self.stream = None


class _Resampler:
    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._r = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        if self.rate == SAMPLE_RATE:
            return samples
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = self.rate
        parts = [f.to_ndarray()[0] for f in self._r.resample(frame)]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


class MicSource:
    """Headset microphone (channel 0, the operator) and optional far end
    (channel 1, the customer), as (channels, n) float32 blocks at 16 kHz.

    If one input stalls while the other keeps coming, at most ``queue_seconds``
    of the other is held; older audio is dropped and counted, so the streams
    never drift apart without bound.
    """

    def __init__(self, mic: str | int | None = None, far_end: str | int | None = None, *,
                 queue_seconds: float = 2.0, block_ms: int = 10, sd: Any = None) -> None:
        self._sd = sd or load_sounddevice()
        devices = [find_device(mic, self._sd)]
        if far_end is not None:
            devices.append(find_device(far_end, self._sd))
        self.captures = [Capture(d, queue_seconds, block_ms) for d in devices]
        self.clocks = [InputClock(c.rate) for c in self.captures]
        self._resamplers = [_Resampler(c.rate) for c in self.captures]
        self._pending = [np.zeros(0, np.float32) for _ in self.captures]
        self._taken = [0 for _ in self.captures]      # 16 kHz samples put in _pending, ever
        self._drops_seen = [0 for _ in self.captures]
        self._max_pending = int(queue_seconds * SAMPLE_RATE)
        self._skew_dropped = 0
        self.started_at: float | None = None
        self.on_start: Callable[[float], None] | None = None
        self._stop = threading.Event()
        self.channels = len(self.captures)
        self.input_rate = self.captures[0].rate
        self.description = " + ".join(f"{c.device.name} @ {c.rate} Hz" for c in self.captures)

    def stop(self) -> None:
        self._stop.set()

    def stats(self) -> dict[str, int]:
        dropped_s = (sum(c.dropped_samples / c.rate for c in self.captures)
                     + sum(k.lost / k.rate for k in self.clocks) + self._skew_dropped / SAMPLE_RATE)
        return {"frames_dropped": int(round(dropped_s / FRAME_SECONDS)),
                "input_overflows": sum(c.overflows for c in self.captures),
                "input_gaps": sum(k.gaps for k in self.clocks)}

    def blocks(self) -> Iterator[np.ndarray]:
        for capture in self.captures:
            capture.open(self._sd)
        try:
            while not self._stop.is_set():
                block = self._next_block()
                if block is not None:
                    yield block
        finally:
            for capture in self.captures:
                capture.close()

    def _next_block(self) -> np.ndarray | None:
        # wait for the first input, then take whatever every input has already
        # delivered: nothing captured waits for the next round
        for k, capture in enumerate(self.captures):
            items = []
            try:
                if k == 0:
                    items.append(capture.queue.get(timeout=0.1))
                while True:
                    items.append(capture.queue.get_nowait())
            except queue.Empty:
                pass
            for arrival, drops, samples in items:
                self._take(k, arrival, drops, samples)
        if self.started_at is None and not self._start():
            return None
        n = min(len(p) for p in self._pending)
        for k, p in enumerate(self._pending):
            excess = len(p) - n - self._max_pending
            if excess > 0:           # the other input stalled: drop our oldest audio
                self._pending[k] = p[excess:]
                self._skew_dropped += excess
        n = min(self._ready(k) for k in range(len(self._pending)))
        if n == 0:
            return None
        block = np.stack([p[:n] for p in self._pending])
        self._pending = [p[n:] for p in self._pending]
        return block

    def _ready(self, k: int) -> int:
        """Pending samples of input ``k`` that may go out: all of them, unless its
        clock suspects audio lost, when what came after the suspect point waits."""
        suspect = self.clocks[k].suspect_from
        if suspect is None:
            return len(self._pending[k])
        return min(len(self._pending[k]), max(0, self._pending_index(k, suspect)))

    def _pending_index(self, k: int, sample: int) -> int:
        """Where sample number ``sample`` of input ``k`` (its own rate) sits in its
        pending audio (negative: already gone out)."""
        at = int(round(sample * SAMPLE_RATE / self.captures[k].rate))
        return at - (self._taken[k] - len(self._pending[k]))

    def _take(self, k: int, arrival: float, drops: int, samples: np.ndarray) -> None:
        """One block of input ``k`` into its pending audio, with silence where the
        queue dropped blocks before it or where the clock shows audio lost."""
        clock, rate = self.clocks[k], self.captures[k].rate
        parts = []
        dropped = drops - self._drops_seen[k]
        if dropped > 0:
            self._drops_seen[k] = drops
            clock.samples += dropped
            parts.append(self._silence(dropped, rate))
        parts.append(self._resamplers[k](samples))
        self._taken[k] += sum(len(x) for x in parts)
        self._pending[k] = np.concatenate([self._pending[k], *parts])
        lost, at = clock.add(arrival, len(samples))
        if lost:
            silence = self._silence(lost, rate)
            pending = self._pending[k]
            i = min(max(self._pending_index(k, at), 0), len(pending))
            self._pending[k] = np.concatenate([pending[:i], silence, pending[i:]])
            self._taken[k] += len(silence)

    @staticmethod
    def _silence(samples: int, rate: int) -> np.ndarray:
        return np.zeros(int(round(samples * SAMPLE_RATE / rate)), np.float32)

    def _start(self) -> bool:
        """Once every input has delivered audio for ``SETTLE_S``: line them up at the
        moment the last one started (earlier audio is left out) and say when that was."""
        if not all(clock.settled(SETTLE_S) for clock in self.clocks) \
                or any(len(p) == 0 for p in self._pending):
            # not started yet: keep no more than the queue would hold (not a drop:
            # the call has not begun)
            self._pending = [p[-self._max_pending:] for p in self._pending]
            return False
        bases = [clock.base if clock.base is not None else 0.0 for clock in self.clocks]
        start = max(bases)
        for k, base in enumerate(bases):
            # the pending audio's first sample is number taken - len(pending) of its input
            at_start = int(round((start - base) * SAMPLE_RATE))
            early = at_start - (self._taken[k] - len(self._pending[k]))
            self._pending[k] = self._pending[k][min(max(early, 0), len(self._pending[k])):]
        self.started_at = start
        if self.on_start is not None:
            self.on_start(start)
        return True
