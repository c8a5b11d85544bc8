"""Live capture logic, with a fake sounddevice (no sound card needed)."""

import threading
import time

import numpy as np
import pytest

from audio.errors import AudioInputError
from audio.frames import FRAME_SECONDS
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
    """A PortAudio stream on a clock of its own (``now``, seconds), which is what the
    capture reads as each block's arrival time."""

    def __init__(self, sd, device, channels, samplerate, dtype, blocksize, callback, latency="high"):
        self.sd, self.device, self.rate, self.blocksize, self.callback = sd, device, samplerate, blocksize, callback
        self.latency = latency
        self.now = 0.0
        callback.__self__.clock = lambda: self.now
        sd.streams.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.started = False

    def close(self):
        self.closed = True

    def push(self, seconds: float, value: float = 0.1, overflow: bool = False, burst: bool = False):
        """``seconds`` of audio, block by block as it is captured, or all at once
        (``burst``: a backlog the sound server hands over late)."""
        n = int(self.rate * seconds)
        status = type("S", (), {"input_overflow": overflow, "__bool__": lambda s: overflow})()
        for start in range(0, n, self.blocksize):
            k = min(self.blocksize, n - start)
            if not burst:
                self.now += k / self.rate
            self.callback(np.full((k, 1), value, np.float32), k, None, status)

    def stall(self, seconds: float):
        """Time passes and nothing arrives (audio lost, or held back for a burst)."""
        self.now += seconds


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


def two_inputs(rate: int = 16000) -> tuple[MicSource, FakeStream, FakeStream]:
    sd = FakeSD([dev("Headset", 1, rate), dev("Loopback", 1, rate)])
    src = MicSource("Headset", "Loopback", sd=sd)
    for capture in src.captures:
        capture.open(sd)
    return src, *sd.streams


def drain(src: MicSource) -> np.ndarray:
    blocks = []
    while (block := src._next_block()) is not None:
        blocks.append(block)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(src.captures), 0), np.float32)


def first_at(channel: np.ndarray, value: float) -> float:
    """Seconds into the call where ``channel`` first carries ``value``."""
    return float(np.argmax(np.isclose(channel, value))) / 16000


def test_everything_already_captured_is_handed_on_at_once():
    # the consumer was busy for a moment: 200 ms waits in each queue; one block
    # must carry all of it, not 10 ms per round (which would keep the delay)
    src, headset, loopback = two_inputs()
    for stream in (headset, loopback):
        stream.push(0.4, 0.1)
    assert drain(src).shape == (2, 6400)      # the call started
    for stream in (headset, loopback):
        stream.push(0.2, 0.1)
    block = src._next_block()
    assert block is not None and block.shape == (2, 3200)
    assert src.captures[0].queue.empty() and src.captures[1].queue.empty()


def test_the_call_starts_when_the_last_input_starts_and_the_channels_line_up():
    src, headset, loopback = two_inputs()
    told = []
    src.on_start = told.append
    headset.push(0.5, 0.1)
    assert src._next_block() is None          # the far end has not delivered yet
    loopback.now = 0.25                       # it started 0.25 s after the headset
    loopback.push(0.25, -0.1)
    assert src._next_block() is None          # not yet delivering for SETTLE_S
    headset.push(0.1, 0.2)
    loopback.push(0.1, -0.2)
    block = drain(src)
    assert told == [pytest.approx(0.25)] and src.started_at == pytest.approx(0.25)
    # 0.35 s each: the headset's first 0.25 s left out; the marks line up
    assert block.shape == (2, 5600)
    assert first_at(block[0], 0.2) == first_at(block[1], -0.2) == pytest.approx(0.25)
    assert src.stats()["frames_dropped"] == 0


def test_a_backlog_in_the_first_burst_does_not_move_the_start():
    # the headset's stream came up late on a busy machine and handed over its
    # first second at once; counting from its first callback would start the
    # call at 1.0 and put the headset 1 s behind the loopback
    src, headset, loopback = two_inputs()
    headset.stall(1.0)
    headset.push(1.0, 0.1, burst=True)        # captured 0..1 s, arrives at 1.0 s
    loopback.now = 0.5
    loopback.push(0.5, -0.1)
    headset.push(0.5, 0.2)                    # both say something at 1.0 s
    loopback.push(0.5, -0.2)
    block = drain(src)
    assert src.started_at == pytest.approx(0.5)
    assert first_at(block[0], 0.2) == pytest.approx(0.5, abs=0.011)
    assert first_at(block[1], -0.2) == pytest.approx(0.5, abs=0.011)
    assert src.stats()["input_gaps"] == 0


def test_audio_lost_upstream_is_put_back_as_silence_and_counted():
    # a sound server's overrun: the loopback loses 1 s of audio on the way and
    # says nothing; without the clock the customer would run 1 s early and the
    # call would wait 1 s on the headset from then on
    src, headset, loopback = two_inputs()
    for stream in (headset, loopback):
        stream.push(0.5, 0.0)
    blocks = [drain(src)]
    headset.push(1.0, 0.0)
    loopback.stall(1.0)                       # lost: nothing ever arrives for it
    blocks.append(drain(src))
    for _ in range(4):                        # both speak from 1.5 s
        headset.push(0.25, 0.3)
        loopback.push(0.25, -0.3)
        blocks.append(drain(src))
    block = np.concatenate(blocks, axis=1)
    assert first_at(block[0], 0.3) == pytest.approx(1.5, abs=0.011)
    assert first_at(block[1], -0.3) == pytest.approx(1.5, abs=0.011)
    stats = src.stats()
    assert stats["input_gaps"] == 1
    assert stats["frames_dropped"] == pytest.approx(1.0 / FRAME_SECONDS, abs=1)   # the 1 s lost
    # and the headset is not held back: nothing of it waits beyond the lost second
    assert len(src._pending[0]) < 0.1 * 16000


def test_a_delay_that_drains_is_not_taken_for_lost_audio():
    # the callback thread was starved for 0.4 s and then caught up: nothing lost
    src, headset, loopback = two_inputs()
    for stream in (headset, loopback):
        stream.push(0.5, 0.0)
    headset.push(0.4, 0.0)
    loopback.stall(0.4)
    loopback.push(0.4, 0.0, burst=True)
    headset.push(1.0, 0.3)
    loopback.push(1.0, -0.3)
    block = drain(src)
    assert first_at(block[0], 0.3) == first_at(block[1], -0.3) == pytest.approx(0.9, abs=0.011)
    assert src.stats() == {"frames_dropped": 0, "input_overflows": 0, "input_gaps": 0}


def test_blocks_dropped_on_a_full_queue_leave_silence_in_their_place():
    sd = FakeSD([dev("Headset", 1, 16000), dev("Loopback", 1, 16000)])
    src = MicSource("Headset", "Loopback", sd=sd, queue_seconds=0.5)
    for capture in src.captures:
        capture.open(sd)
    headset, loopback = sd.streams
    for stream in (headset, loopback):
        stream.push(0.4, 0.0)
    block = drain(src)
    loopback.push(0.4, 0.0)
    headset.push(0.8, 0.0)                    # 0.3 s more than its queue holds
    block = np.concatenate([block, drain(src)], axis=1)
    loopback.push(0.4, 0.0)
    block = np.concatenate([block, drain(src)], axis=1)
    headset.push(0.5, 0.3)                    # both speak 1.2 s into the call
    loopback.push(0.5, -0.3)
    block = np.concatenate([block, drain(src)], axis=1)
    assert first_at(block[0], 0.3) == first_at(block[1], -0.3) == pytest.approx(1.2, abs=0.011)
    assert src.stats()["frames_dropped"] == round(0.3 / FRAME_SECONDS)
