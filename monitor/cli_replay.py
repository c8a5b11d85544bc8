"""``calmline replay``: run the pipeline on a recorded call."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from audio.channels import map_channels, parse_mapping
from audio.errors import AudioDecodeError
from audio.file_source import FileSource
from monitor.config import load_config
from monitor.errors import CalmlineError
from monitor.event_bus import EventBus, default_call_id
from monitor.interrupts import ending_the_call, sigterm_as_ctrl_c
from monitor.pipeline import CallInfo, CallPipeline
from monitor.report_console import make_console, print_summary, print_transcript
from monitor.report.html import check_report_path, write_report
from monitor.sinks import JsonlSink
from monitor.stages import build_stages


def wait_for_interrupt() -> None:
    """Until Ctrl-C or SIGTERM."""
    with sigterm_as_ctrl_c():
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def save_report(report: Path, events: list, err: Console) -> None:
    write_report(report, [e.to_dict() for e in events])
    err.print(f"report written to {report}", markup=False, highlight=False, soft_wrap=True)


def replay_command(
    path: Path = typer.Argument(..., help="Recorded call: wav, flac, ogg, mp3, m4a, ... "
                                "(stereo: left = operator, right = customer).",
                                show_default=False),
    channels: Optional[str] = typer.Option(
        None, "--channels", help="Speaker of each channel in order, e.g. customer,operator; "
        "'-' ignores a channel. Default: stereo operator,customer; mono: call."),
    transcribe: bool = typer.Option(
        True, "--transcribe/--no-transcribe", help="Transcribe speech with Whisper."),
    realtime: bool = typer.Option(
        False, "--realtime", help="Pace the file at 1x, like a live call (training, latency)."),
    events: Optional[str] = typer.Option(
        None, "--events", metavar="FILE|-", help="Write every event as JSON lines to FILE, or - for stdout."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="TOML settings file (see `calmline config --defaults`)."),
    call_id: Optional[str] = typer.Option(
        None, "--call-id", help="Call id stamped on events (default: the file's name; with --hub the "
        "file's name, date, time, host and a random part, as a hub takes each call id once)."),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="Progress bar on stderr (only on a terminal)."),
    language: Optional[str] = typer.Option(
        None, "--language", help="auto | en | ru | bg | ro  (auto: detected once per speaker)."),
    model: Optional[str] = typer.Option(
        None, "--model", metavar="NAME|DIR", help="Whisper model: 'base' (bundled, default), "
        "a faster-whisper model name already on this machine, or a model directory."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | auto"),
    compute_type: Optional[str] = typer.Option(
        None, "--compute-type", help="CTranslate2 compute type (auto = int8 on cpu)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for the model (0 = automatic)."),
    transcript: bool = typer.Option(False, "--transcript", help="Print the transcript after the summary."),
    report: Optional[Path] = typer.Option(
        None, "--report", metavar="FILE", help="Write the call as one self-contained HTML page "
        "(timeline, transcript, summary, coaching) to FILE."),
    ui: bool = typer.Option(False, "--ui", help="Serve the operator screen for this call (training mode)."),
    port: int = typer.Option(8765, "--port", help="Port of the operator screen (with --ui)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the operator screen listens on."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser (with --ui); "
                                    "print the screen's one-time sign-in link instead."),
    hub: Optional[str] = typer.Option(None, "--hub", metavar="URL", help="Publish the call to a calmline hub."),
    token: Optional[str] = typer.Option(None, "--token", envvar="CALMLINE_HUB_TOKEN",
                                        help="Your hub token (or set CALMLINE_HUB_TOKEN)."),
    playbook: Optional[Path] = typer.Option(
        None, "--playbook", metavar="DIR", help="Your own playbook folder (en.toml, ru.toml, ...); "
        "languages it lacks use the bundled playbook."),
) -> None:
    """Run a recorded call through the monitor and print a summary.

    Replay is deterministic: the same file gives the same events, apart from the
    wall-clock field.  With --ui the operator screen shows the call as it plays
    (add --realtime to watch it at 1x, as a trainee would); no sound is played.
    With --realtime or --ui, Ctrl-C (or SIGTERM) ends the call there and writes
    the summary; after the call the screen stays up until Ctrl-C (or SIGTERM),
    and acknowledgements made on it are added to the --events file.
    """
    overrides = {"audio": {"channels": channels},
                 "transcription": {"language": language},
                 "coach": {"playbook_dir": str(playbook) if playbook else None},
                 "model": {"name": model, "device": device, "compute_type": compute_type,
                           "threads": threads}}
    if channels is not None:
        parse_mapping(channels)
    cfg = load_config(config, overrides)
    source = FileSource(path, chunk_seconds=0.1 if realtime else 0.5)
    cmap = map_channels(source.info.channels, cfg.channel_mapping)
    if hub and not call_id:     # call ids must be unique on a hub
        call_id = default_call_id(path.stem)
    bus = EventBus(call_id or path.stem)
    sink = JsonlSink(events) if events else None
    if sink is not None:
        bus.subscribe(sink)
    lines: list = []
    if transcript:
        bus.subscribe(lambda e: lines.append(e) if e.type == "utterance" else None)
    collected: list = []
    if report is not None:
        check_report_path(report)
        bus.subscribe(collected.append)
    final: dict = {}    # the summary event's fields, also when decoding fails part-way
    bus.subscribe(lambda e: final.update(e.data) if e.type == "summary" else None)
    info = CallInfo(str(path), source.info.input_rate, source.info.channels, cmap)
    err = make_console(stderr=True)
    clock = {"pipeline": None}
    parts = build_stages(cfg, bus, cmap.speakers, transcribe=transcribe, live=realtime,
                         say=lambda m: err.print(f"[dim]{escape(m)}[/dim]"), hub_url=hub, hub_token=token,
                         audio_time=lambda: clock["pipeline"].audio_seconds if clock["pipeline"] else 0.0)
    pipeline = CallPipeline(cfg, bus, info, parts.stages)
    clock["pipeline"] = pipeline
    out = err if events == "-" else make_console()
    title = f"{path.name}: {', '.join(cmap.speakers)}"
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(parts.close)            # (on an error) hand the spool to the hub
        if sink is not None:
            cleanup.callback(sink.close)         # after the screen: acks made on it are recorded
        server = _start_screen(bus, pipeline, host, port, no_browser, err) if ui else None
        if server is not None:
            cleanup.callback(server.stop)
        try:
            summary = _play(pipeline, source, parts, err, realtime=realtime, paced=realtime or ui,
                            progress=progress and err.is_terminal and not ui)
        except AudioDecodeError:
            # The call was closed and summarised up to the failure: show that part
            # (marked incomplete), then let the CLI report the error and exit 2.
            if final.get("duration"):
                print_summary(final, out, title)
            if report is not None:
                save_report(report, collected, err)
            raise
        hub_stats = parts.close()
        print_summary(dict(summary, **hub_stats), out, title)
        if transcript:
            print_transcript(lines, out)
        if report is not None:
            save_report(report, collected, err)
        if server is not None:
            err.print(f"the call is over; the operator screen stays at {server.url} until Ctrl-C",
                      markup=False, highlight=False)
            wait_for_interrupt()
    hub_error = (hub_stats.get("hub") or {}).get("error")
    if hub_error:
        raise CalmlineError(hub_error)


def _start_screen(bus: EventBus, pipeline: CallPipeline, host: str, port: int, no_browser: bool,
                  err: Console):
    from monitor.web.screen import start_screen  # FastAPI only when a screen is served

    return start_screen(bus, lambda: pipeline.audio_seconds, host=host, port=port,
                        open_browser=not no_browser,
                        say=lambda m: err.print(m, markup=False, highlight=False))


def _play(pipeline: CallPipeline, source: FileSource, parts, err: Console, *, realtime: bool,
          paced: bool, progress: bool) -> dict:
    """Run the call; the summary's fields.  A paced replay (like a live call: --realtime
    or --ui) ends cleanly on Ctrl-C or SIGTERM, as a live call does; otherwise
    SIGTERM interrupts like Ctrl-C (the events written so far end with the summary)."""
    stop = threading.Event()

    def end() -> None:
        stop.set()
        err.print("ending the call here: writing the summary (Ctrl-C again to skip the transcripts still waiting)")

    def hurry() -> None:
        for stage in parts.stages:
            if hasattr(stage, "hurry"):
                stage.hurry()

    signals = ending_the_call(end, hurry) if paced else sigterm_as_ctrl_c()
    with signals:
        if not progress:
            return pipeline.run(source, realtime=realtime, stop=stop)
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                      TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task(escape(source.path.name), total=source.info.duration or None)
            return pipeline.run(source, realtime=realtime, stop=stop,
                                on_block=lambda t: bar.update(task, completed=t))
