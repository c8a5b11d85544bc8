"""A call's live transcription stage whose model calls go through the shared pool.

It is :class:`~monitor.asr.transcription.TranscriptionStage` in live mode (the
same endpointing, merging, bounded queue, partials, speculative finals and
language fixing as ``calmline live``), with each model call handed to the
process's :class:`~monitor.ingest.pool.TranscriptionPool` and tagged with what
it is for (a final, a speculative final, a partial), so the pool can put the
customer first and shed in its fixed order.  A shed job is counted by the pool
for this call, not as an error; the call's summary gets ``transcription.pool``.

It hooks three places of the stage's worker (what each model call is for, the
model call itself, and failures); ``tests/test_serve_pool.py`` checks those
hooks against the stage, so a change there fails a test instead of silently
bypassing the pool.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from audio.frontend import FrontEnd
from monitor.asr.engine import Transcript
from monitor.asr.transcription import AsrSettings, TranscriptionStage
from monitor.event_bus import EventBus
from monitor.ingest.pool import CallShare, Shed, TranscriptionPool


class PooledStage(TranscriptionStage):
    def __init__(self, bus: EventBus, speakers: tuple[str, ...], share: CallShare,
                 cfg: AsrSettings) -> None:
        super().__init__(bus, speakers, share.engine, cfg.transcription, cfg.endpointing, cfg.vad,
                         live=True)
        self.share = share
        self._kind = "speculation"      # what the worker's next model call is for
        self._heard_at: float | None = None

    # --- the hooks into the stage's worker ----------------------------------------------
    def _run(self, item: Any) -> None:                         # a final
        self._kind, self._heard_at = "final", item.heard_at
        try:
            super()._run(item)
        finally:
            self._kind, self._heard_at = "speculation", None

    def _run_partial(self, cur: Any) -> None:                  # a partial
        self._kind = "partial"
        try:
            super()._run_partial(cur)
        finally:
            self._kind = "speculation"

    def _transcribe(self, speaker: str, samples: np.ndarray) -> Transcript:
        # called by the worker for all three; anything else is a speculative final
        # (the model's own time is the pool's to measure: this call may wait first)
        return self.share.transcribe(self._kind, speaker, samples, self.language[speaker],
                                     self.beam, self._heard_at)

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
        self.asr_seconds = self.share.model_s
        out = super().stats()
        out["transcription"]["pool"] = self.share.stats()
        return out


def pooled_transcriber(pool: TranscriptionPool, cfg: AsrSettings
                       ) -> Callable[[EventBus, tuple[str, ...]], PooledStage]:
    """What a call session uses instead of loading its own model."""

    def build(bus: EventBus, speakers: tuple[str, ...]) -> PooledStage:
        return PooledStage(bus, speakers, pool.join(bus.call_id), cfg)

    return build
