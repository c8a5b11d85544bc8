"""One call, wired once: the event bus and its sinks, the stages (transcription,
the coach, hub publishing), the pipeline, and the operator screen.

Every way a call comes in uses this: ``calmline replay`` (a recorded file),
``calmline live`` (the PC's sound devices), and a server fed by the phone system.
So what an operator sees live is what a replay of the same recording shows.

    plan = SessionPlan(transcribe=True, live=True, outputs=Outputs(events="call.jsonl"),
                       screen=ScreenTarget("127.0.0.1", 8765, open_browser=True))
    with CallSession(cfg, "call-42", info, plan, say) as call:
        call.start_screen()
        summary = call.run(source, stop=stop)
        summary = call.finish(summary)      # + what the hub publisher reports

Closing (the ``with`` block) stops the screen first (no acknowledgement after
the events file is closed), then closes the events file, then hands whatever is
still spooled to the hub (bounded wait), also when the call failed part-way.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from monitor.config import Config
from monitor.event_bus import EventBus
from monitor.events import Event, Summary, Utterance
from monitor.pipeline import BlockSource, CallInfo, CallPipeline, Stage
from monitor.sinks import JsonlSink

Say = Callable[[str], None]


@dataclass(frozen=True)
class Outputs:
    """Where the call's events go besides the stages."""

    events: str | None = None        # a JSON-lines file, or "-" for stdout
    keep_events: bool = False        # keep every event in memory (an HTML report)
    keep_utterances: bool = False    # keep the final utterances (a printed transcript)


@dataclass(frozen=True)
class HubTarget:
    url: str
    token: str


@dataclass(frozen=True)
class ScreenTarget:
    host: str
    port: int
    open_browser: bool


@dataclass(frozen=True)
class SessionPlan:
    """What a way in asks of the call (validated by the CLI before it gets here)."""

    transcribe: bool = True
    live: bool = False               # live decoding policy (a live call, or a paced replay)
    outputs: Outputs = Outputs()
    hub: HubTarget | None = None
    screen: ScreenTarget | None = None
    # builds the call's transcription stage from a model the process shares (serve's
    # pool) instead of loading one for the call; None: load the configured model
    transcriber: Callable[[EventBus, tuple[str, ...]], Stage] | None = None


@dataclass
class CallStages:
    stages: list[Stage] = field(default_factory=list)
    publisher: Any = None          # HubPublisher when publishing to a hub

    def close(self, timeout: float = 10.0) -> dict[str, Any]:
        """Hand over to the hub whatever is still spooled (bounded wait)."""
        return self.publisher.close(timeout) if self.publisher is not None else {}


def build_stages(cfg: Config, bus: EventBus, speakers: tuple[str, ...], *, transcribe: bool,
                 live: bool, say: Say, hub: HubTarget | None = None,
                 audio_time: Callable[[], float] = lambda: 0.0,
                 transcriber: Callable[[EventBus, tuple[str, ...]], Stage] | None = None) -> CallStages:
    """The optional parts of the pipeline, in the order they must run."""
    out = CallStages()
    if transcribe and transcriber is not None:
        out.stages.append(transcriber(bus, speakers))
    elif transcribe:
        from monitor.asr.stage_build import transcription_stage   # numpy + model on demand

        out.stages.append(transcription_stage(cfg, bus, speakers, live=live, say=say))
    if cfg.coach.enabled:
        from monitor.coaching.coach import Coach

        coach = Coach(bus, cfg.coach)
        bus.subscribe(coach)
        out.stages.append(coach)       # after transcription: its last utterances come first
    if hub is not None:
        out.publisher = _publish(cfg, bus, hub, say, audio_time, out.stages)
    return out


def _publish(cfg: Config, bus: EventBus, hub: HubTarget, say: Say,
             audio_time: Callable[[], float], stages: list[Stage]) -> Any:
    from monitor.hub.audio_tap import AudioTap
    from monitor.hub.publisher import HubPublisher

    def on_listening(on: bool, by: str) -> None:
        bus.emit("listening", audio_time(), on=on, by=by)

    publisher = HubPublisher(hub.url, hub.token, bus.call_id,
                             spool_dir=Path(cfg.hub.spool_dir) if cfg.hub.spool_dir else None,
                             share_operator_cues=cfg.hub.share_operator_cues,
                             on_listening=on_listening)
    bus.subscribe(publisher)
    tap = AudioTap(publisher)
    bus.subscribe(tap)
    stages.append(tap)
    say(f"publishing to {publisher.url}" + ("" if cfg.hub.share_operator_cues
                                            else " (your own voice cues stay on your screen)"))
    if not publisher.connected:
        say(f"the hub is not reachable now ({publisher.last_error or 'no answer'}); "
            "the call is kept in a spool on disk and sent when it is back")
    return publisher


class CallSession:
    """One call from its first audio block to its summary; see the module docstring."""

    def __init__(self, cfg: Config, call_id: str, info: CallInfo, plan: SessionPlan,
                 say: Say) -> None:
        self.plan = plan
        self.say = say
        self.bus = EventBus(call_id)
        self.events: list[Event] = []          # with Outputs.keep_events
        self.utterances: list[Utterance] = []  # with Outputs.keep_utterances
        self.final: dict[str, Any] = {}        # the summary's fields, also after a failure
        self.screen: Any = None
        self._cleanup = contextlib.ExitStack()
        self._hub_stats: dict[str, Any] | None = None
        self._open_outputs(plan.outputs)
        self.parts = build_stages(cfg, self.bus, info.channel_map.speakers,
                                  transcribe=plan.transcribe, live=plan.live, say=say,
                                  hub=plan.hub, audio_time=self.audio_time,
                                  transcriber=plan.transcriber)
        self._cleanup.callback(self._close_hub)          # runs last
        if self.sink is not None:
            self._cleanup.callback(self.sink.close)
        self.pipeline = CallPipeline(cfg, self.bus, info, self.parts.stages)

    def _open_outputs(self, outputs: Outputs) -> None:
        self.sink = JsonlSink(outputs.events) if outputs.events else None
        if self.sink is not None:
            self.bus.subscribe(self.sink)
        if outputs.keep_events:
            self.bus.subscribe(self.events.append)
        if outputs.keep_utterances:
            self.bus.subscribe(self._keep_utterance)
        self.bus.subscribe(self._keep_summary)

    def _keep_utterance(self, event: Event) -> None:
        if isinstance(event, Utterance):
            self.utterances.append(event)

    def _keep_summary(self, event: Event) -> None:
        if isinstance(event, Summary):
            self.final.update(event.data)

    # --- running -------------------------------------------------------------------------
    @property
    def call_id(self) -> str:
        return self.bus.call_id

    def audio_time(self) -> float:
        """How far into the call's audio the pipeline is (0 before it exists)."""
        pipeline = getattr(self, "pipeline", None)
        return pipeline.audio_seconds if pipeline is not None else 0.0

    def start_screen(self) -> Any:
        """Serve the operator screen for this call (the plan's ``screen``)."""
        target = self.plan.screen
        if target is None or self.screen is not None:
            return self.screen
        from monitor.web.screen import start_screen     # FastAPI only when a screen is served

        self.screen = start_screen(self.bus, self.audio_time, host=target.host, port=target.port,
                                   open_browser=target.open_browser, say=self.say)
        self._cleanup.callback(self.screen.stop)       # runs first
        return self.screen

    def run(self, source: BlockSource, **how: Any) -> dict[str, Any]:
        """Process the source (see :meth:`CallPipeline.run` for ``realtime``, ``stop``,
        ``on_block``); the summary's fields."""
        return self.pipeline.run(source, **how)

    def hurry(self) -> None:
        """Skip the transcripts still waiting (a second Ctrl-C); the summary is still written."""
        for stage in self.parts.stages:
            if hasattr(stage, "hurry"):
                stage.hurry()

    def finish(self, summary: dict[str, Any]) -> dict[str, Any]:
        """The summary plus what the hub publisher reports (delivery, errors)."""
        return dict(summary, **self._close_hub())

    def hub_error(self) -> str | None:
        """Why the hub refused this call, if it did (the CLI exits 2 with it)."""
        return ((self._hub_stats or {}).get("hub") or {}).get("error")

    # --- closing -------------------------------------------------------------------------
    def _close_hub(self) -> dict[str, Any]:
        if self._hub_stats is None:
            self._hub_stats = self.parts.close()
        return self._hub_stats

    def close(self) -> None:
        self._cleanup.close()

    def __enter__(self) -> "CallSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
