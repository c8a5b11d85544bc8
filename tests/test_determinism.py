"""Replay is deterministic and does not depend on how the audio is chunked.

Two replays of the same file give the same events apart from the wall clock,
and feeding the same samples in blocks of any size (not aligned to the 20 ms
frame grid) gives the same facts and events.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from audio.channels import map_channels
from audio.file_source import FileSource
from audio.frames import FRAME_SAMPLES, SAMPLE_RATE, to_int16
from audio.frontend import FrontEnd
from monitor.config import load_config
from monitor.event_bus import EventBus
from monitor.events import Event, read_jsonl, without_wall
from monitor.pipeline import CallInfo, CallPipeline

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ESCALATION = FIXTURES / "escalation.flac"
CALMLINE = Path(sys.executable).parent / "calmline"


class ArraySource:
    """A block source that yields slices of an already decoded array."""

    def __init__(self, audio: np.ndarray, block_samples: int) -> None:
        self.audio = audio
        self.block = block_samples

    def blocks(self) -> Iterator[np.ndarray]:
        for i in range(0, self.audio.shape[1], self.block):
            yield self.audio[:, i: i + self.block]


def run(source, path: Path, channels: int, rate: int = SAMPLE_RATE) -> list[Event]:
    cmap = map_channels(channels, None)
    bus = EventBus(path.stem)
    events: list[Event] = []
    bus.subscribe(events.append)
    CallPipeline(load_config(), bus, CallInfo(str(path), rate, channels, cmap)).run(source)
    return events


def replay(path: Path) -> list[Event]:
    source = FileSource(path)
    return run(source, path, source.info.channels, source.info.input_rate)


def comparable(events: list[Event]) -> list[dict]:
    return [without_wall(e) for e in events]


@pytest.fixture(scope="module")
def escalation_audio() -> np.ndarray:
    """The escalation call as the file source delivers it: float32 (2, n) at 16 kHz."""
    audio = np.concatenate(list(FileSource(ESCALATION).blocks()), axis=1)
    assert audio.dtype == np.float32 and audio.shape[0] == 2
    return audio


@pytest.fixture(scope="module")
def reference() -> list[Event]:
    return replay(ESCALATION)


def test_two_replays_identical(reference: list[Event]) -> None:
    again = replay(ESCALATION)
    assert comparable(again) == comparable(reference)
    # the comparison is not vacuous: there are cues, and the wall clock is stamped
    types = {e.type for e in reference}
    assert {"raised_voice", "overlap", "silence", "speech_start", "level"} <= types
    assert any(e.wall > 0 for e in reference)


def cli_replay(out: Path) -> list[Event]:
    r = subprocess.run([str(CALMLINE), "replay", str(ESCALATION), "--no-transcribe",
                        "--no-progress", "--events", str(out)],
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, COLUMNS="120"))
    assert r.returncode == 0, r.stderr
    return read_jsonl(out.read_text(encoding="utf-8").splitlines())


FRONT_END_TYPES = {"speech_start", "speech_end", "level", "raised_voice", "raised_voice_end",
                   "overlap", "overlap_end", "silence", "silence_end", "monologue",
                   "monologue_end"}


def test_two_cli_replays_identical(tmp_path: Path, reference: list[Event]) -> None:
    """The command, with whatever stages it adds besides the front end, twice;
    and its front-end cues are those of the bare pipeline."""
    first = cli_replay(tmp_path / "1.jsonl")
    second = cli_replay(tmp_path / "2.jsonl")
    assert comparable(first) == comparable(second)

    def front_end(events: list[Event]) -> list[dict]:
        return [{k: v for k, v in without_wall(e).items() if k != "seq"}
                for e in events if e.type in FRONT_END_TYPES]

    assert front_end(first) == front_end(reference)


@pytest.mark.parametrize("seconds", [0.02, 0.37, 5.0, 333 / SAMPLE_RATE, 1e9])
def test_block_size_does_not_matter(escalation_audio: np.ndarray, reference: list[Event],
                                    seconds: float) -> None:
    block = max(1, min(escalation_audio.shape[1], round(seconds * SAMPLE_RATE)))
    events = run(ArraySource(escalation_audio, block), ESCALATION, 2)
    assert comparable(events) == comparable(reference)


def test_uneven_blocks_do_not_matter(escalation_audio: np.ndarray, reference: list[Event]) -> None:
    """Blocks of random sizes, from 1 sample to 1.5 s."""
    rng = np.random.default_rng(11)

    class Ragged:
        def blocks(self) -> Iterator[np.ndarray]:
            i, n = 0, escalation_audio.shape[1]
            while i < n:
                k = int(rng.choice([1, 7, 320, 321, 4000, 24000]))
                yield escalation_audio[:, i: i + k]
                i += k

    events = run(Ragged(), ESCALATION, 2)
    assert comparable(events) == comparable(reference)


@pytest.mark.parametrize("frames_per_block", [1, 3, 250])
def test_front_end_facts_do_not_depend_on_chunking(escalation_audio: np.ndarray,
                                                   frames_per_block: int) -> None:
    """The front end alone, fed whole frames in different block sizes."""
    pcm = to_int16(escalation_audio)
    pcm = pcm[:, : pcm.shape[1] // FRAME_SAMPLES * FRAME_SAMPLES]

    def facts(step_frames: int) -> list[tuple]:
        fe = FrontEnd(("operator", "customer"), load_config().frontend)
        out = []
        step = step_frames * FRAME_SAMPLES
        for i in range(0, pcm.shape[1], step):
            out.extend(fe.process(pcm[:, i: i + step]))
        out.extend(fe.finish())
        return [(f.kind, round(f.t, 6), f.speaker, sorted(f.data.items())) for f in out]

    whole = facts(pcm.shape[1] // FRAME_SAMPLES)
    assert facts(frames_per_block) == whole
    assert any(k == "raised_voice" for k, *_ in whole)
