"""Builds the optional parts of the pipeline for one call from the settings.

Shared by every way in (replay, live), so they all run the same pipeline:
transcription, the coach, and publishing to a hub (events, flag clips, live
audio while a supervisor listens).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from monitor.coaching.coach import Coach
from monitor.config import Config
from monitor.event_bus import EventBus
from monitor.pipeline import Stage
from monitor.asr.transcription import transcription_stage


@dataclass
class CallStages:
    stages: list[Stage] = field(default_factory=list)
    publisher: Any = None          # HubPublisher when publishing to a hub

    def close(self, timeout: float = 10.0) -> dict[str, Any]:
        """Hand over to the hub whatever is still spooled (bounded wait)."""
        return self.publisher.close(timeout) if self.publisher is not None else {}


def build_stages(cfg: Config, bus: EventBus, speakers: tuple[str, ...], *, transcribe: bool,
                 live: bool, say: Callable[[str], None], hub_url: str | None = None,
                 hub_token: str | None = None,
                 audio_time: Callable[[], float] = lambda: 0.0) -> CallStages:
    out = CallStages()
    if transcribe:
        out.stages.append(transcription_stage(cfg, bus, speakers, live=live, say=say))
    if cfg.coach.enabled:
        coach = Coach(bus, cfg.coach)
        bus.subscribe(coach)
        out.stages.append(coach)       # after transcription: its last utterances come first
    if hub_url:
        from monitor.hub.audio_tap import AudioTap
        from monitor.hub.publisher import HubPublisher

        def on_listening(on: bool, by: str) -> None:
            bus.emit("listening", audio_time(), on=on, by=by)

        publisher = HubPublisher(hub_url, hub_token or "", bus.call_id,
                                 spool_dir=Path(cfg.hub.spool_dir) if cfg.hub.spool_dir else None,
                                 share_operator_cues=cfg.hub.share_operator_cues,
                                 on_listening=on_listening)
        bus.subscribe(publisher)
        tap = AudioTap(publisher)
        bus.subscribe(tap)
        out.stages.append(tap)
        out.publisher = publisher
        say(f"publishing to {publisher.url}" + ("" if cfg.hub.share_operator_cues
                                                else " (your own voice cues stay on your screen)"))
        if not publisher.connected:
            say(f"the hub is not reachable now ({publisher.last_error or 'no answer'}); "
                "the call is kept in a spool on disk and sent when it is back")
    return out
