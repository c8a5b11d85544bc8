"""Builds the optional pipeline stages for one call from the settings.

Shared by every way in (replay, live), so they all run the same pipeline.
"""

from __future__ import annotations

from typing import Callable

from monitor.coach import Coach
from monitor.config import Config
from monitor.event_bus import EventBus
from monitor.pipeline import Stage
from monitor.transcription import transcription_stage


def build_stages(cfg: Config, bus: EventBus, speakers: tuple[str, ...], *, transcribe: bool,
                 live: bool, say: Callable[[str], None]) -> list[Stage]:
    stages: list[Stage] = []
    if transcribe:
        stages.append(transcription_stage(cfg, bus, speakers, live=live, say=say))
    if cfg.coach.enabled:
        coach = Coach(bus, cfg.coach)
        bus.subscribe(coach)
        stages.append(coach)       # after transcription: its last utterances come first
    return stages
