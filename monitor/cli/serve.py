"""``calmline serve``: take calls from the phone system, many at once."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """Take calls from the phone system, many at once, and coach each operator on their own screen.

Streams: Twilio Media Streams at ws://HOST:PORT/ingest/twilio, Genesys AudioHook at ws://HOST:PORT/ingest/audiohook, Asterisk AudioSocket on --audiosocket-port. Every call runs the same pipeline as `calmline live`; with --events-dir its events go to DIR/<call id>.jsonl. Operator NAME's screen is http://HOST:PORT/operator/NAME/ (a one-time sign-in link per operator is printed, or written to --links-dir).

Without an ingest secret (--twilio-auth-token, --audiohook-api-key) only a loopback --host is allowed. Ctrl-C (or SIGTERM) ends every call cleanly (summaries written); a second one skips the transcripts still waiting.
"""

def serve_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8770, "--port", help="Port of the streams and the screens."),
    public_url: Optional[str] = typer.Option(
        None, "--public-url", metavar="URL", help="How the phone system and the operators' browsers "
        "reach this server (e.g. https://calm.example.com behind a TLS proxy); screens answer to "
        "its host name and the links use it. Default: http://HOST:PORT."),
    audiosocket_port: Optional[int] = typer.Option(
        None, "--audiosocket-port", metavar="PORT", help="Also take Asterisk AudioSocket streams (TCP)."),
    audiosocket_peer: Optional[list[str]] = typer.Option(
        None, "--audiosocket-peer", metavar="ADDR[/BITS]", help="An Asterisk address allowed to stream "
        "AudioSocket calls (repeat for more). Default: loopback only."),
    events_dir: Optional[Path] = typer.Option(
        None, "--events-dir", metavar="DIR", help="Write each call's events to DIR/<call id>.jsonl."),
    language: Optional[str] = typer.Option(None, "--language", help="auto | en | ru | bg | ro"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML settings file."),
    operator: Optional[list[str]] = typer.Option(
        None, "--operator", metavar="NAME", help="Make this operator's screen (and sign-in link) now; "
        "others are made on their first call. Repeat for more."),
    links_dir: Optional[Path] = typer.Option(
        None, "--links-dir", metavar="DIR", help="Write each operator's one-time sign-in link to "
        "DIR/NAME.url (0600), renewed after each use, instead of printing it."),
    max_calls: int = typer.Option(20, "--max-calls", help="Calls at once; more are refused."),
    transcribe: bool = typer.Option(True, "--transcribe/--no-transcribe", help="Transcribe speech (one "
                                    "model shared by every call)."),
    model: Optional[str] = typer.Option(None, "--model", metavar="NAME|DIR", help="Whisper model (default: bundled base)."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda | auto"),
    playbook: Optional[Path] = typer.Option(None, "--playbook", metavar="DIR", help="Your own playbook folder."),
    twilio_auth_token: Optional[str] = typer.Option(
        None, "--twilio-auth-token", envvar="CALMLINE_TWILIO_AUTH_TOKEN", show_envvar=False,
        help="Check Twilio's X-Twilio-Signature with this auth token (or set CALMLINE_TWILIO_AUTH_TOKEN)."),
    audiohook_api_key: Optional[str] = typer.Option(
        None, "--audiohook-api-key", envvar="CALMLINE_AUDIOHOOK_API_KEY", show_envvar=False,
        help="The API key Genesys must send in X-API-KEY (or set CALMLINE_AUDIOHOOK_API_KEY)."),
    certfile: Optional[Path] = typer.Option(None, "--certfile", help="TLS certificate (PEM) for https/wss."),
    keyfile: Optional[Path] = typer.Option(None, "--keyfile", help="Its private key (PEM)."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow plain http/ws on a network address."),
    hub: Optional[str] = typer.Option(None, "--hub", metavar="URL", help="Publish every call to a calmline hub."),
    token: Optional[str] = typer.Option(None, "--token", envvar="CALMLINE_HUB_TOKEN",
                                        help="The hub token to publish with (or set CALMLINE_HUB_TOKEN)."),
) -> None:
    import threading

    from rich.markup import escape

    from monitor.cli.interrupts import ending_the_call
    from monitor.config import load_config
    from monitor.errors import CalmlineError
    from monitor.hub.tls import server_tls
    from monitor.ingest.audiosocket import parse_peers
    from monitor.ingest.server import IngestKeys
    from monitor.ingest.service import LOOPBACK_PEERS, ServeOptions, Service
    from monitor.report.console import make_console
    from monitor.session import HubTarget

    cfg = load_config(config, {"transcription": {"language": language},
                               "model": {"name": model, "device": device},
                               "coach": {"playbook_dir": str(playbook) if playbook else None}})
    try:
        peers = parse_peers(audiosocket_peer) if audiosocket_peer else LOOPBACK_PEERS
    except ValueError as exc:
        raise CalmlineError(f"--audiosocket-peer: {exc}") from None
    options = ServeOptions(
        host=host, port=port, public_url=public_url, tls=server_tls(certfile, keyfile), insecure=insecure,
        audiosocket_port=audiosocket_port, audiosocket_peers=peers, events_dir=events_dir,
        operators=tuple(operator or ()), links_dir=links_dir, max_calls=max_calls, transcribe=transcribe,
        keys=IngestKeys(twilio_auth_token or None, audiohook_api_key or None),
        hub=HubTarget(hub, token or "") if hub else None)
    options.check()
    err = make_console(stderr=True)
    say = lambda m: err.print(f"[dim]{escape(m)}[/dim]")  # noqa: E731
    stop = threading.Event()

    def end() -> None:          # first Ctrl-C or SIGTERM: every call ends cleanly
        stop.set()
        err.print("ending every call: finishing the transcripts (Ctrl-C again to skip them)")

    service = Service(cfg, options, say)
    with ending_the_call(end, lambda: (service.hurry(), err.print("skipping the remaining transcripts"))):
        service.start()
        err.print("serving; press Ctrl-C to end every call and stop")
        while not stop.wait(0.5):
            pass
        finished = service.stop(timeout=None)
    board = service.switchboard
    err.print(f"stopped: {board.finished} call(s) taken, {board.refused} refused"
              + ("" if finished else "; some calls did not finish"), markup=False, highlight=False)
