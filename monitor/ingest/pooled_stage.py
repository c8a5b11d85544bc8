"""A call's live transcription stage whose model calls go through the shared pool.

It is :class:`~monitor.asr.transcription.TranscriptionStage` in live mode (the
same endpointing, merging, bounded queue, partials, speculative finals and
language fixing as ``calmline live``), with each model call handed to the
process's :class:`~monitor.ingest.pool.TranscriptionPool` and tagged with what
it is for (a final, a speculative final, a partial), so the pool can put the
customer first and shed in its fixed order.  A shed job is counted by the pool
for this call, not as an error; the call's summary gets ``transcription.pool``.

The stage is given a :class:`PooledEngine` (each model call, with whatever
arguments the stage passes, waits for its turn in the pool) and hooks its
worker in a few places: what each model call is for (``_run`` a final,
``_run_partial`` a partial, anything else a speculation) and for whom
(``_transcribe``), idle work only on an idle pool (``_speculation_due``,
``_partial_due``) and shed jobs not counted as failures (``_failed``).
``tests/test_serve_pool.py`` checks those hooks against the stage and that every
model call went through the pool, so a change there fails a test instead of
silently bypassing the pool.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from audio.frontend import FrontEnd
from monitor.asr.engine import Transcript
from monitor.asr.transcription import AsrSettings, TranscriptionStage
from monitor.event_bus import EventBus
from monitor.ingest.pool import CallShare, Shed, TranscriptionPool


class PooledEngine:
    """The engine a pooled stage sees: each model call waits for its turn in the pool,
    tagged with what the stage's worker is doing (see :class:`PooledStage`)."""

    def __init__(self, share: CallShare) -> None:
        self.share = share
        self.kind = "speculation"
        self.speaker = "customer"
        self.heard_at: float | None = None

    def transcribe(self, samples: np.ndarray, *args: Any, **kwargs: Any) -> Transcript:
        return self.share.run(self.kind, self.speaker,
                              lambda engine: engine.transcribe(samples, *args, **kwargs), self.heard_at)

    def transcribe_timed(self, samples: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        return self.share.run("final", self.speaker,
                              lambda engine: engine.transcribe_timed(samples, *args, **kwargs))


class PooledStage(TranscriptionStage):
    def __init__(self, bus: EventBus, speakers: tuple[str, ...], share: CallShare,
                 cfg: AsrSettings) -> None:
        self.pooled = PooledEngine(share)
        super().__init__(bus, speakers, self.pooled, cfg.transcription, cfg.endpointing, cfg.vad,
                         live=True)
        self.share = share
        self._spec_shed: set[tuple[str, float, float, int]] = set()

    # --- the hooks into the stage's worker (one thread) -----------------------------------
    def _run(self, item: Any) -> None:                         # a final
        self.pooled.kind, self.pooled.heard_at = "final", item.heard_at
        try:
            super()._run(item)
        finally:
            self.pooled.kind, self.pooled.heard_at = "speculation", None

    def _run_partial(self, cur: Any) -> None:                  # a partial
        self.pooled.kind = "partial"
        try:
            super()._run_partial(cur)
        finally:
            self.pooled.kind = "speculation"

    def _transcribe(self, speaker: str, samples: np.ndarray) -> Transcript:
        # called by the worker for all three (anything else is a speculative final)
        self.pooled.speaker = speaker
        return super()._transcribe(speaker, samples)

    def _speculation_due(self) -> Any:
        # only on an otherwise idle pool; one shed is counted per utterance
        due = super()._speculation_due()
        if due is not None and not self.share.pool.idle():
            key = (due.speaker, due.t, due.t_end, len(due.samples))
            if key not in self._spec_shed:
                if len(self._spec_shed) > 1000:
                    self._spec_shed.clear()
                self._spec_shed.add(key)
                self.share.count_shed("speculation", due.speaker)
            return None
        return due

    def _partial_due(self) -> Any:
        # the growing utterance's turn passes when the pool is busy (counted as shed)
        due = super()._partial_due()
        if due is not None and not self.share.pool.idle():
            self.share.count_shed("partial", due.speaker)
            return None
        return due

    def _failed(self, exc: Exception) -> None:
        if isinstance(exc, Shed):        # counted by the pool for this call
            return
        super()._failed(exc)

    # --- the call's end -----------------------------------------------------------------
    def finish(self, frontend: FrontEnd) -> None:
        try:
            super().finish(frontend)
        finally:
            self.share.leave()

    def stats(self) -> dict[str, Any]:
        self.asr_seconds = self.share.model_s      # the model's own time, not the turn's wait
        out = super().stats()
        out["transcription"]["pool"] = self.share.stats()
        return out


def pooled_transcriber(pool: TranscriptionPool, cfg: AsrSettings
                       ) -> Callable[[EventBus, tuple[str, ...]], PooledStage]:
    """What a call session uses instead of loading its own model."""

    def build(bus: EventBus, speakers: tuple[str, ...]) -> PooledStage:
        return PooledStage(bus, speakers, pool.join(bus.call_id), cfg)

    return build
