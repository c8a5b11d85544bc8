"""Live capture logic, with a fake sounddevice (no sound card needed)."""

import threading
import time

import numpy as np
import pytest

from audio.errors import AudioInputError
from audio.mic_source import MicSource, find_device, list_input_devices


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Poll ``condition`` (bounded: gives up after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.002)
    return True


class FakeStream:
    def __init__(self, sd, device, channels, samplerate, dtype, blocksize, callback, latency="high"):
        self.sd, self.device, self.rate, self.blocksize, self.callback = sd, device, samplerate, blocksize, callback
        self.latency = latency
        sd.streams.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True

    def push(self, seconds: float, value: float = 0.1, overflow: bool = False):
        n = int(self.rate * seconds)
        status = type("S", (), {"input_overflow": overflow, "__bool__": lambda s: overflow})()
        for start in range(0, n, self.blocksize):
            k = min(self.blocksize, n - start)
            self.callback(np.full((k, 1), value, np.float32), k, None, status)


class FakeSD:
    class default:
        device = (1, 0)

    def __init__(self, devices):
        self._devices = devices
        self.streams = []

    def query_devices(self):
        return self._devices

    def query_hostapis(self):
        return [{"name": "ALSA"}]

    def InputStream(self, **kw):
        return FakeStream(self, **kw)


def dev(name, inputs=1, rate=48000):
    return {"name": name, "hostapi": 0, "max_input_channels": inputs, "default_samplerate": rate}


SD = FakeSD([dev("Speakers", 0), dev("USB Headset Mic"), dev("Monitor of Built-in", 2, 44100)])


def test_devices_are_listed_and_found_by_index_name_or_default():
    assert [d.index for d in list_input_devices(SD)] == [1, 2]
    assert find_device(None, SD).index == 1
    assert find_device("2", SD).name == "Monitor of Built-in"
    assert find_device("headset", SD).index == 1
    with pytest.raises(AudioInputError, match="no input device matches"):
        find_device("bluetooth", SD)
    with pytest.raises(AudioInputError, match="index 0"):
        find_device(0, SD)   # an output-only device
    with pytest.raises(AudioInputError, match="no audio input devices"):
        find_device(None, FakeSD([dev("Speakers", 0)]))


def test_ambiguous_names_are_refused():
    sd = FakeSD([dev("Mic A"), dev("Mic B")])
    with pytest.raises(AudioInputError, match="several"):
        find_device("mic", sd)


def test_callback_never_blocks_and_counts_drops():
    sd = FakeSD([dev("Mic", 1, 16000)])
    src = MicSource("Mic", sd=sd, queue_seconds=0.1, block_ms=20)   # room for 5 blocks
    cap = src.captures[0]
    cap.open(sd)
    stream = sd.streams[0]
    done = threading.Event()
    threading.Thread(target=lambda: (stream.push(1.0, overflow=True), done.set())).start()
    assert done.wait(2.0), "the callback blocked on a full queue"
    assert cap.queue.qsize() == 5
    assert cap.dropped_samples == 16000 - 5 * 320
    assert cap.overflows == 50
    assert src.stats()["frames_dropped"] == 45
    assert src.stats()["input_overflows"] == 50


def test_two_inputs_are_resampled_to_16k_and_interleaved():
    sd = FakeSD([dev("Headset", 1, 48000), dev("Loopback", 1, 44100)])
    src = MicSource("Headset", "Loopback", sd=sd, queue_seconds=2.0)
    got = []

    def consume():
        for block in src.blocks():
            got.append(block)
            if sum(b.shape[1] for b in got) >= 16000:
                src.stop()

    t = threading.Thread(target=consume)
    t.start()
    assert wait_until(lambda: len(sd.streams) >= 2), "the two input streams were never opened"
    sd.streams[0].push(1.1, 0.1)
    sd.streams[1].push(1.1, -0.1)
    t.join(5)
    assert not t.is_alive()
    data = np.concatenate(got, axis=1)
    assert data.shape[0] == 2 and data.shape[1] >= 16000
    assert np.allclose(data[0, 1000:15000], 0.1, atol=0.01)
    assert np.allclose(data[1, 1000:15000], -0.1, atol=0.01)
    assert all(s.closed for s in sd.streams)


def test_streams_are_opened_for_low_latency_with_10ms_blocks():
    sd = FakeSD([dev("Headset", 1, 48000)])
    src = MicSource("Headset", sd=sd)
    src.captures[0].open(sd)
    stream = sd.streams[0]
    assert stream.latency == "low"           # not PortAudio's default "high" buffering
    assert stream.blocksize == 480           # 10 ms at 48 kHz


def test_everything_already_captured_is_handed_on_at_once():
    # the consumer was busy for a moment: 200 ms waits in each queue; one block
    # must carry all of it, not 10 ms per round (which would keep the delay)
    sd = FakeSD([dev("Headset", 1, 16000), dev("Loopback", 1, 16000)])
    src = MicSource("Headset", "Loopback", sd=sd)
    for capture in src.captures:
        capture.open(sd)
    for stream in sd.streams:
        stream.push(0.2, 0.1)
    block = src._next_block()
    assert block is not None and block.shape[0] == 2 and block.shape[1] > 3000
    assert src.captures[0].queue.empty() and src.captures[1].queue.empty()


def test_the_call_starts_when_the_last_input_starts_and_the_channels_line_up():
    sd = FakeSD([dev("Headset", 1, 16000), dev("Loopback", 1, 16000)])
    src = MicSource("Headset", "Loopback", sd=sd)
    told = []
    src.on_start = told.append
    for capture in src.captures:
        capture.open(sd)
    headset, loopback = sd.streams
    headset.push(0.5, 0.1)
    assert src._next_block() is None          # the far end has not delivered yet
    loopback.push(0.25, -0.1)
    # the headset's first sample was captured 0.25 s before the loopback's
    src.captures[0].first_at, src.captures[1].first_at = 100.0, 100.25
    block = src._next_block()
    assert told == [100.25] and src.started_at == 100.25
    assert block.shape == (2, 4000)           # 0.25 s each: the headset's first 0.25 s left out
    assert src.stats()["frames_dropped"] == 0
