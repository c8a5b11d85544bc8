"""``calmline live``: monitor a call as it happens, from the headset and the far end."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


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
    import threading

    from audio.channels import ChannelMap
    from audio.mic_source import MicSource
    from monitor.cli.interrupts import ending_the_call
    from monitor.config import load_config
    from monitor.errors import CalmlineError
    from monitor.event_bus import default_call_id
    from monitor.pipeline import CallInfo
    from monitor.report.console import make_console, print_summary
    from monitor.session import CallSession, HubTarget, Outputs, ScreenTarget, SessionPlan
    from rich.markup import escape

    cfg = load_config(config, {"transcription": {"language": language},
                               "model": {"name": model, "device": device},
                               "coach": {"playbook_dir": str(playbook) if playbook else None}})
    source = MicSource(mic, far_end)
    speakers = ("operator", "customer")[: source.channels]
    cmap = ChannelMap(tuple(range(source.channels)), speakers, source.channels)
    err = make_console(stderr=True)
    plan = SessionPlan(transcribe=transcribe, live=True, outputs=Outputs(events=events),
                       hub=HubTarget(hub, token or "") if hub else None,
                       screen=ScreenTarget(host, port, open_browser=not no_browser))
    info = CallInfo(source.description, source.input_rate, source.channels, cmap)
    say = lambda m: err.print(f"[dim]{escape(m)}[/dim]")  # noqa: E731
    stop = threading.Event()

    def end_call() -> None:  # first Ctrl-C or SIGTERM: end the call cleanly
        stop.set()
        source.stop()
        err.print("ending the call: finishing the transcripts (Ctrl-C again to skip them)")

    with CallSession(cfg, call_id or default_call_id("live"), info, plan, say) as call:
        call.pipeline.source_stats = source.stats

        def started(at: float) -> None:
            # every input delivers: audio time 0, from which wall time counts too;
            # only now is anything said to be heard (opening a stream can take a
            # second or more on a busy PC, and what is said before is not heard)
            call.bus.mark_start(at)
            err.print(f"listening on {source.description}; press Ctrl-C to end the call")

        source.on_start = started
        call.start_screen()

        def hurry() -> None:  # second: skip what waits, still write the summary
            call.hurry()
            err.print("skipping the remaining transcripts; writing the summary")

        say(f"opening {source.description}")
        with ending_the_call(end_call, hurry):
            summary = call.run(source, stop=stop)
    summary = call.finish(summary)
    print_summary(summary, make_console(stderr=events == "-"), f"live call {call.call_id}")
    if call.hub_error():
        raise CalmlineError(call.hub_error())
