"""``calmline replay``: run the pipeline on a recorded call."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

if TYPE_CHECKING:   # heavy modules are imported when the command runs, not for --help
    from rich.console import Console

    from audio.file_source import FileSource
    from monitor.session import CallSession


def wait_for_interrupt() -> None:
    """Until Ctrl-C or SIGTERM."""
    from monitor.cli.interrupts import sigterm_as_ctrl_c

    with sigterm_as_ctrl_c():
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def save_report(report: Path, events: list, err: "Console") -> None:
    from monitor.report.html import write_report

    write_report(report, events)
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
    from audio.channels import map_channels, parse_mapping
    from audio.file_source import FileSource
    from monitor.config import load_config
    from monitor.errors import CalmlineError
    from monitor.event_bus import default_call_id
    from monitor.pipeline import CallInfo
    from monitor.report.console import make_console
    from monitor.report.html import check_report_path
    from monitor.session import CallSession, HubTarget, Outputs, ScreenTarget, SessionPlan

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
    if report is not None:
        check_report_path(report)
    plan = SessionPlan(
        transcribe=transcribe, live=realtime,
        outputs=Outputs(events=events, keep_events=report is not None, keep_utterances=transcript),
        hub=HubTarget(hub, token or "") if hub else None,
        screen=ScreenTarget(host, port, open_browser=not no_browser) if ui else None)
    info = CallInfo(str(path), source.info.input_rate, source.info.channels, cmap)
    err = make_console(stderr=True)
    out = err if events == "-" else make_console()
    show = _Showing(out, f"{path.name}: {', '.join(cmap.speakers)}", report, transcript)
    with CallSession(cfg, call_id or path.stem, info, plan, say=_dim_on(err)) as call:
        _run_and_show(call, source, err, show, realtime=realtime, ui=ui,
                      progress=progress and err.is_terminal and not ui)
    if call.hub_error():
        raise CalmlineError(call.hub_error())


@dataclass(frozen=True)
class _Showing:
    """Where and what the command shows once the call is over."""

    out: "Console"
    title: str
    report: Optional[Path]
    transcript: bool


def _run_and_show(call: "CallSession", source: "FileSource", err: "Console", show: _Showing, *,
                  realtime: bool, ui: bool, progress: bool) -> None:
    from audio.errors import AudioDecodeError
    from monitor.report.console import print_summary, print_transcript

    server = call.start_screen() if ui else None
    try:
        summary = _play(call, source, err, realtime=realtime, paced=realtime or ui, progress=progress)
    except AudioDecodeError:
        # The call was closed and summarised up to the failure: show that part
        # (marked incomplete), then let the CLI report the error and exit 2.
        if call.final.get("duration"):
            print_summary(call.final, show.out, show.title)
        if show.report is not None:
            save_report(show.report, call.events, err)
        raise
    print_summary(call.finish(summary), show.out, show.title)
    if show.transcript:
        print_transcript(call.utterances, show.out)
    if show.report is not None:
        save_report(show.report, call.events, err)
    if server is not None:
        err.print(f"the call is over; the operator screen stays at {server.url} until Ctrl-C",
                  markup=False, highlight=False)
        wait_for_interrupt()


def _dim_on(err: "Console"):
    from rich.markup import escape

    return lambda message: err.print(f"[dim]{escape(message)}[/dim]")


def _play(call: "CallSession", source: "FileSource", err: "Console", *, realtime: bool,
          paced: bool, progress: bool) -> dict:
    """Run the call; the summary's fields.  A paced replay (like a live call: --realtime
    or --ui) ends cleanly on Ctrl-C or SIGTERM, as a live call does; otherwise
    SIGTERM interrupts like Ctrl-C (the events written so far end with the summary)."""
    import threading

    from monitor.cli.interrupts import ending_the_call, sigterm_as_ctrl_c

    stop = threading.Event()

    def end() -> None:
        stop.set()
        err.print("ending the call here: writing the summary (Ctrl-C again to skip the transcripts still waiting)")

    signals = ending_the_call(end, call.hurry) if paced else sigterm_as_ctrl_c()
    with signals:
        if not progress:
            return call.run(source, realtime=realtime, stop=stop)
        from rich.markup import escape
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                      TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
                      TimeRemainingColumn(), console=err, transient=True) as bar:
            task = bar.add_task(escape(source.path.name), total=source.info.duration or None)
            return call.run(source, realtime=realtime, stop=stop,
                            on_block=lambda t: bar.update(task, completed=t))
