"""The signal side of `calmline serve`: G.711 mu-law and the push-based stream source."""

import threading
import warnings

import numpy as np
import pytest

from audio import mulaw
from audio.errors import AudioDecodeError
from audio.stream_source import StreamSource


def test_mulaw_decode_table_is_g711():
    # the code points every G.711 table agrees on
    assert mulaw.LINEAR[0xFF] == 0 and mulaw.LINEAR[0x7F] == 0
    assert mulaw.LINEAR[0x00] == -32124 and mulaw.LINEAR[0x80] == 32124
    assert mulaw.LINEAR[0xF0] == 120 and mulaw.LINEAR[0x70] == -120
    # monotonic within each sign
    assert np.all(np.diff(mulaw.LINEAR[0x80:0x100].astype(int)) < 0)
    assert np.all(np.diff(mulaw.LINEAR[0x00:0x80].astype(int)) > 0)
    assert mulaw.decode(bytes([0x80, 0xFF])).dtype == np.float32


def test_mulaw_round_trip_error_is_within_the_segment_step():
    x = np.arange(-32768, 32768, 7, dtype=np.int16)
    back = mulaw.decode_int16(mulaw.encode(x)).astype(int)
    # the quantisation step doubles per segment: at most half a step (plus the clip at 32124)
    err = np.abs(back - np.clip(x.astype(int), -32124, 32124))
    assert np.all(err <= np.maximum(4, np.abs(x.astype(int)) // 32 + 8))
    assert np.array_equal(mulaw.encode(x.astype(np.float32) / 32768.0), mulaw.encode(x))


def test_mulaw_matches_the_reference_encoder_when_available():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")
    x = np.arange(-32768, 32768, dtype=np.int16)
    assert mulaw.encode(x) == audioop.lin2ulaw(x.tobytes(), 2)
    assert np.array_equal(mulaw.LINEAR, np.frombuffer(audioop.ulaw2lin(bytes(range(256)), 2), np.int16))


def drain(source: StreamSource) -> np.ndarray:
    return np.concatenate(list(source.blocks()), axis=1)


def tone(n: int, hz: float = 440.0, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(n) / 8000)).astype(np.float32)


def test_tracks_are_laid_on_one_timeline_and_resampled_once():
    src = StreamSource(2)
    sig = tone(8000)
    for i in range(0, 8000, 160):          # interleaved tracks, like Twilio
        src.push(1, sig[i:i + 160], at=i)
        src.push(0, -sig[i:i + 160], at=i)
    src.end()
    out = drain(src)
    assert out.shape == (2, 16000)
    ref = 0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(out[1, 200:15800] - ref[200:15800]).max() < 0.01     # no delay, no drift
    assert np.allclose(out[0], -out[1], atol=1e-5)
    stats = src.stats()["stream"]
    assert stats["gaps_filled_s"] == 0 and stats["dropped_s"] == 0 and src.stats()["frames_dropped"] == 0


def test_a_gap_is_silence_and_an_overlap_is_trimmed_both_counted():
    src = StreamSource(1)
    src.push(0, np.full(800, 0.25, np.float32), at=0)
    src.push(0, np.full(800, 0.25, np.float32), at=1600)      # 800 samples missing
    src.push(0, np.full(400, 0.5, np.float32), at=2000)       # 400 already there
    src.end()
    out = drain(src)[0]
    assert out.shape[0] == 2 * 2400
    assert np.abs(out[2 * 900:2 * 1500]).max() < 0.02          # the gap is silent
    stats = src.stats()["stream"]
    assert stats["gaps_filled_s"] == 0.1 and stats["overlaps_trimmed_s"] == 0.05


def test_a_silent_track_is_padded_so_the_call_goes_on():
    src = StreamSource(2, max_skew_s=0.5)
    got = []
    done = threading.Event()

    def consume():
        for block in src.blocks():
            got.append(block)
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    src.push(0, np.full(8000, 0.1, np.float32))                # 1 s of one track only
    deadline = 100
    while not got and deadline:
        done.wait(0.02)
        deadline -= 1
    assert got, "the other track's silence held the call up"
    assert sum(b.shape[1] for b in got) >= 2 * 4000 - 64       # all but max_skew (and the resampler's delay)
    src.end()
    done.wait(5)
    assert src.stats()["stream"]["padded_s"] >= 0.5


def test_a_full_queue_drops_and_counts_and_never_blocks():
    src = StreamSource(1, queue_seconds=1.0)
    assert src.push(0, np.zeros(8000, np.float32))
    assert not src.room(1)
    assert not src.push(0, np.zeros(160, np.float32))
    src.end()
    assert drain(src).shape[1] == 16000
    assert src.stats()["stream"]["dropped_s"] == 0.02 and src.stats()["frames_dropped"] == 1
    assert not src.push(0, np.zeros(160, np.float32))          # after the end: counted too
    assert src.stats()["stream"]["after_end_s"] == 0.02


def test_a_broken_stream_delivers_everything_then_raises():
    src = StreamSource(2)
    src.push_frames(np.full((2, 4000), 0.1, np.float32))
    src.end("the line broke")
    blocks = []
    with pytest.raises(AudioDecodeError, match="the line broke"):
        for block in src.blocks():
            blocks.append(block)
    assert sum(b.shape[1] for b in blocks) == 8000
