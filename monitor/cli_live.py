"""``calmline live``: monitor a call as it happens, from the headset and the far end."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from audio.channels import ChannelMap
from audio.mic_source import MicSource
from monitor.config import load_config
from monitor.errors import CalmlineError
from monitor.event_bus import EventBus, default_call_id
from monitor.interrupts import ending_the_call
from monitor.pipeline import CallInfo, CallPipeline
from monitor.report_console import make_console, print_summary
from monitor.sinks import JsonlSink
from monitor.stages import build_stages


def live_command(
    mic: Optional[str] = typer.Option(
        None, "--mic", metavar="DEVICE", help="Headset microphone (the operator): index or part of "
        "its name from `calmline devices`. Default: the system's default input."),
    far_end: Optional[str] = typer.Option(
        None, "--far-end", metavar="DEVICE", help="Second input carrying the customer (a loopback "
        "or monitor device). Without it only the operator's side is analysed."),
    language: Optional[str] = typer.Option(None, "--language", help="auto | en | ru | bg | ro"),
    port: int = typer.Option(8765, "--port", help="Port of the operator screen."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the operator screen listens on."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open the operator screen in a "
                                    "browser; print its one-time sign-in link instead."),
    events: Optional[str] = typer.Option(None, "--events", metavar="FILE|-", help="Also write every event as JSON lines."),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file."),
    transcribe: bool = typer.Option(True, "--transcribe/--no-transcribe", help="Transcribe speech with Whisper."),
    model: Optional[str] = typer.Option(None, "--model", metavar="NAME|DIR", help="Whisper model (default: bundled base)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | auto"),
    playbook: Optional[Path] = typer.Option(None, "--playbook", metavar="DIR", help="Your own playbook folder."),
    call_id: Optional[str] = typer.Option(None, "--call-id", help="Call id, used once (default: "
                                          "live-<date>-<time>-<host>-<random>)."),
    hub: Optional[str] = typer.Option(None, "--hub", metavar="URL", help="Publish the call to a calmline hub."),
    token: Optional[str] = typer.Option(None, "--token", envvar="CALMLINE_HUB_TOKEN",
                                        help="Your hub token (or set CALMLINE_HUB_TOKEN)."),
) -> None:
    """Monitor a live call: capture the headset (and far end), coach on the operator screen.

    Ctrl-C (or SIGTERM) ends the call cleanly: the summary is written and nothing
    already recorded is lost.  A second one skips the transcripts still waiting.
    """
    cfg = load_config(config, {"transcription": {"language": language},
                               "model": {"name": model, "device": device},
                               "coach": {"playbook_dir": str(playbook) if playbook else None}})
    source = MicSource(mic, far_end)
    speakers = ("operator", "customer")[: source.channels]
    cmap = ChannelMap(tuple(range(source.channels)), speakers, source.channels)
    bus = EventBus(call_id or default_call_id("live"))
    err = make_console(stderr=True)
    sink = JsonlSink(events) if events else None
    if sink is not None:
        bus.subscribe(sink)
    clock = {"pipeline": None}
    parts = build_stages(cfg, bus, speakers, transcribe=transcribe, live=True,
                         say=lambda m: err.print(f"[dim]{escape(m)}[/dim]"), hub_url=hub, hub_token=token,
                         audio_time=lambda: clock["pipeline"].audio_seconds if clock["pipeline"] else 0.0)
    pipeline = CallPipeline(cfg, bus, CallInfo(source.description, source.input_rate,
                                               source.channels, cmap), parts.stages)
    clock["pipeline"] = pipeline
    pipeline.source_stats = source.stats
    from monitor.web.screen import start_screen  # FastAPI only when a screen is served

    server = start_screen(bus, lambda: pipeline.audio_seconds, host=host, port=port,
                          open_browser=not no_browser,
                          say=lambda m: err.print(m, markup=False, highlight=False))
    stop = threading.Event()

    def end_call() -> None:  # first Ctrl-C or SIGTERM: end the call cleanly
        stop.set()
        source.stop()
        err.print("ending the call: finishing the transcripts (Ctrl-C again to skip them)")

    def hurry() -> None:  # second: skip what waits, still write the summary
        for stage in parts.stages:
            if hasattr(stage, "hurry"):
                stage.hurry()
        err.print("skipping the remaining transcripts; writing the summary")

    err.print(f"listening on {source.description}; press Ctrl-C to end the call")
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(parts.close)            # runs last: hand the spool to the hub
        if sink is not None:
            cleanup.callback(sink.close)
        cleanup.callback(server.stop)            # runs first: no ack after the file is closed
        with ending_the_call(end_call, hurry):
            summary = pipeline.run(source, stop=stop)
    hub_stats = parts.close()
    if hub_stats:
        summary = dict(summary, **hub_stats)
    print_summary(summary, make_console(stderr=events == "-"), f"live call {bus.call_id}")
    hub_error = (hub_stats.get("hub") or {}).get("error") if hub_stats else None
    if hub_error:
        raise CalmlineError(hub_error)
