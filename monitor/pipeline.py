"""The pipeline: one path from a source of audio blocks to the event bus.

    source -> channel map -> 20 ms frames -> front end (VAD, level, raised voice,
    turns) -> [utterances -> transcriber] -> event bus -> sinks

The same code runs a live call and a replay; a replay paced with ``realtime``
behaves like a live call, and an unpaced replay gives the same events (apart
from ``wall``) every time.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from audio.channels import ChannelMap
from audio.errors import AudioDecodeError
from audio.facts import Fact
from audio.frames import SAMPLE_RATE, Framer
from audio.frontend import FrontEnd
from monitor.config import Config
from monitor.event_bus import EventBus
from monitor.report.summary import SummaryBuilder


PACE_SAMPLES = SAMPLE_RATE // 10       # realtime replays feed at most 100 ms at a time


class BlockSource(Protocol):
    def blocks(self) -> Iterator[np.ndarray]: ...


@dataclass(frozen=True)
class CallInfo:
    source: str              # file path or device description
    input_rate: int
    input_channels: int
    channel_map: ChannelMap


class Stage(Protocol):
    """Something else that consumes the framed audio (e.g. the utterance endpointer)."""

    def process(self, pcm: np.ndarray, frontend: FrontEnd) -> None: ...
    def finish(self, frontend: FrontEnd) -> None: ...
    def stats(self) -> dict[str, Any]: ...


class CallPipeline:
    def __init__(self, config: Config, bus: EventBus, info: CallInfo,
                 stages: list[Stage] | None = None) -> None:
        self.config = config
        self.bus = bus
        self.info = info
        self.frontend = FrontEnd(info.channel_map.speakers, config.frontend)
        self.framer = Framer(len(info.channel_map.speakers))
        self.summary = SummaryBuilder()
        bus.subscribe(self.summary)
        self.stages = list(stages or [])
        # a stage that transcribes replays in shared windows asks the pipeline to
        # hold each block's events until that block's utterances are transcribed
        self._holder = next((st for st in self.stages if getattr(st, "holds_events", False)), None)
        self._held: deque[tuple[list[Fact], list[Any]]] = deque()
        self.source_stats: Callable[[], dict[str, Any]] = dict

    @property
    def audio_seconds(self) -> float:
        return self.frontend.t

    def run(self, source: BlockSource, *, realtime: bool = False,
            stop: threading.Event | None = None,
            on_block: Callable[[float], None] | None = None) -> dict[str, Any]:
        """Process the whole source; returns the summary's fields.

        A decoding error part-way ends the call normally (everything before it is
        kept and summarised) and is then re-raised for the caller to report.
        ``stop`` ends the call early and cleanly (Ctrl-C in live mode).
        """
        info = self.info
        self.bus.mark_start()
        self.bus.emit("call_start", 0.0, source=info.source, sample_rate=SAMPLE_RATE,
                      input_rate=info.input_rate, channels=info.input_channels,
                      speakers=list(info.channel_map.speakers))
        error: AudioDecodeError | None = None
        started = time.monotonic()
        indices = list(info.channel_map.indices)
        fed = 0                                   # samples handed to the framer
        try:
            for block in source.blocks():
                block = block[indices]
                # paced like a live source: each piece (<= 100 ms) is processed only
                # once its last sample "exists", never ahead of the clock
                step = PACE_SAMPLES if realtime else block.shape[1]
                for start in range(0, block.shape[1], max(1, step)):
                    piece = block[:, start:start + step]
                    if realtime:
                        ahead = started + (fed + piece.shape[1]) / SAMPLE_RATE - time.monotonic()
                        if ahead > 0:
                            time.sleep(ahead)
                    fed += piece.shape[1]
                    self._feed(self.framer.push(piece))
                if on_block is not None:
                    on_block(self.frontend.t)
                if stop is not None and stop.is_set():
                    break
        except AudioDecodeError as exc:
            error = exc
        finally:
            summary = self._close(error)
        if error is not None:
            raise error
        return summary

    def _feed(self, pcm: np.ndarray) -> None:
        if pcm.shape[1] == 0:
            return
        facts = self.frontend.process(pcm)
        if self._holder is None:
            for fact in facts:
                self.bus.emit_fact(fact)
            for stage in self.stages:
                stage.process(pcm, self.frontend)
            return
        try:
            for stage in self.stages:
                stage.process(pcm, self.frontend)
        finally:                       # even if interrupted, this block's facts are kept
            self._hold(facts)

    def _hold(self, facts: list[Fact]) -> None:
        """Queue a block's facts with its utterance slots; release every block whose
        utterances are all transcribed, in order (facts first, as a live call has them)."""
        self._held.append((facts, self._holder.take_slots()))
        while self._held and all(slot.ready for slot in self._held[0][1]):
            facts, slots = self._held.popleft()
            for fact in facts:
                self.bus.emit_fact(fact)
            for slot in slots:
                self._holder.release(slot)

    def _close(self, error: Exception | None) -> dict[str, Any]:
        self._feed(self.framer.flush())
        last = self.frontend.finish()
        if self._holder is None:
            for fact in last:
                self.bus.emit_fact(fact)
            for stage in self.stages:
                stage.finish(self.frontend)
        else:
            self._held.append((last, []))
            self._holder.finish(self.frontend)   # the transcriber sends its last windows...
            self._hold([])                       # ... so everything held goes out now,
            for stage in self.stages:            # before the others wrap up the call
                if stage is not self._holder:
                    stage.finish(self.frontend)
        end = self.frontend.t
        extra = {"error": str(error)} if error is not None else {}
        self.bus.emit("call_end", end, duration=end, **extra)
        stats: dict[str, Any] = dict(self.source_stats())
        for stage in self.stages:
            stats.update(stage.stats())
        fields = self.summary.build(**stats)
        self.bus.emit("summary", end, **fields)
        return fields
