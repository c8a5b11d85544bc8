"""Loading the model for a call and building its transcription stage: how many
CPU threads each model call gets and how many model calls run at once.

- ``calmline live``: one thread per model call, two calls at once on two cores
  or more (a speculation or final beside a partial).
- ``calmline serve``: one thread per model call, one call per core
  (``monitor/ingest/service.py``).
- replay: CTranslate2's own choice of threads, one call at a time.
"""

from __future__ import annotations

import os
from typing import Callable

from monitor.asr.engine import WhisperEngine
from monitor.asr.scheduler import Scheduler
from monitor.asr.settings import AsrSettings
from monitor.asr.transcription import TranscriptionStage
from monitor.event_bus import EventBus

#: CPU threads for a live call's model when ``[model] threads`` is 0 (automatic).
#: Whisper's greedy decoder runs faster on one thread than on two (its matrices
#: are small: 0.125 against 0.184 s for one utterance here), the short-context
#: encoder about a quarter slower, and the other cores stay free for the
#: softphone, the capture and the front end.  ``benchmarks/live_latency.py``:
#: lag p95 1.27 -> 1.16 s on a quiet machine, 1.45 s with one core kept busy.
LIVE_THREADS = 1


def usable_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):       # not Linux
        return os.cpu_count() or 1


def live_workers() -> int:
    """Model calls a live call runs at once: two (a speculation or final beside a
    partial, each on its own core) where the machine has two cores for it, else one.
    ``benchmarks/live_latency.py``: a long customer turn's final no longer waits for
    the partial under way when the turn ends."""
    return 2 if usable_cores() >= 2 else 1


def transcription_stage(cfg: AsrSettings, bus: EventBus, speakers: tuple[str, ...], *, live: bool,
                        say: Callable[[str], None], scheduler: Scheduler | None = None
                        ) -> TranscriptionStage:
    """Load the configured model and build the stage for one call."""
    from monitor.asr.model_load import load_whisper     # faster-whisper only when needed

    m = cfg.model
    threads = m.threads or (LIVE_THREADS if live else 0)
    workers = live_workers() if live and scheduler is None else 1
    model = load_whisper(m.name, m.device, m.resolved_compute_type, threads, say=say, workers=workers)
    engine = WhisperEngine(model, cfg.transcription.max_new_tokens, short_context=live,
                           language_confidence=cfg.transcription.language_confidence,
                           workers=workers)
    if live and scheduler is None:
        engine.warm_up(cfg.transcription.language, cfg.transcription.live_beam_size)
    return TranscriptionStage(bus, speakers, engine, cfg.transcription, cfg.endpointing,
                              cfg.vad, live=live, scheduler=scheduler)
