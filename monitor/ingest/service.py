"""A running ``calmline serve``: the model every call shares, the switchboard,
the operators' screens and the server, built from checked options.

    options = ServeOptions(port=8770, events_dir=Path("calls"))
    options.check()
    with Service(cfg, options, say) as service:    # started; stopped on exit
        ...                                        # calls come in
        service.end_calls()                        # (the CLI does this on Ctrl-C)

Stopping ends every call's stream (what was received is processed, each call's
``call_end`` and summary written), waits for the calls, then stops the server and
the transcription scheduler.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from monitor.config import Config
from monitor.errors import CalmlineError
from monitor.hub.tls import ServerTLS, is_loopback
from monitor.ingest.audiosocket import AudioSocketServer, Network
from monitor.ingest.calls import ServePlan, Switchboard
from monitor.ingest.server import IngestKeys, ServeApp, ServeServer, create_ingest_app, listen
from monitor.session import HubTarget
from monitor.web.desks import OPERATOR_NAME, Desks, LinkDesk

Say = Callable[[str], None]
LOOPBACK_PEERS: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
WILDCARDS = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class ServeOptions:
    """What ``calmline serve`` was asked for (see :meth:`check`)."""

    host: str = "127.0.0.1"
    port: int = 8770
    public_url: str | None = None
    tls: ServerTLS | None = None
    insecure: bool = False
    audiosocket_port: int | None = None
    audiosocket_peers: tuple[Network, ...] = LOOPBACK_PEERS
    events_dir: Path | None = None
    operators: tuple[str, ...] = ()
    links_dir: Path | None = None
    max_calls: int = 20
    transcribe: bool = True
    keys: IngestKeys = field(default_factory=IngestKeys)
    hub: HubTarget | None = None

    @property
    def loopback(self) -> bool:
        return self.host not in WILDCARDS and is_loopback(self.host)

    def check(self) -> None:
        """Refuse what is unsafe or cannot work, in one line (CalmlineError)."""
        if not self.loopback and not (self.keys.twilio_auth_token or self.keys.audiohook_api_key):
            raise CalmlineError(
                f"--host {self.host}: calls from the network need an ingest secret: "
                "--twilio-auth-token (or CALMLINE_TWILIO_AUTH_TOKEN) and/or --audiohook-api-key "
                "(or CALMLINE_AUDIOHOOK_API_KEY); without one, serve listens on loopback only")
        if not self.loopback and self.tls is None and not self.insecure:
            raise CalmlineError(f"--host {self.host}: screens and calls on the network need TLS "
                                "(--certfile/--keyfile), or --insecure to send them in clear "
                                "(e.g. behind a TLS proxy on a private network)")
        if not 1 <= self.max_calls <= 500:
            raise CalmlineError(f"--max-calls {self.max_calls}: must be between 1 and 500")
        for name in self.operators:
            if not OPERATOR_NAME.fullmatch(name):
                raise CalmlineError(f"--operator {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if self.public_url is not None:
            parts = urlsplit(self.public_url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
                raise CalmlineError(f"--public-url {self.public_url}: give the server's address as "
                                    "http(s)://NAME[:PORT] (no path)")
        if self.events_dir is not None:
            try:
                self.events_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CalmlineError(f"--events-dir {self.events_dir}: cannot create it "
                                    f"({exc.strerror or exc})") from None
            if not self.events_dir.is_dir():
                raise CalmlineError(f"--events-dir {self.events_dir}: not a folder")

    def base_url(self, port: int) -> str:
        if self.public_url is not None:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in WILDCARDS else self.host
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        return f"{'https' if self.tls else 'http'}://{host}:{port}"


class Service:
    """See the module docstring.  ``engine``: a model engine to share (tests); by
    default the configured model is loaded once when transcription is on."""

    def __init__(self, cfg: Config, options: ServeOptions, say: Say, *, engine: Any = None) -> None:
        self.cfg, self.options, self.say = cfg, options, say
        self.scheduler: Any = None     # every call's model calls queue here (shut down at the end)
        transcriber = None
        if options.transcribe:
            engine = engine if engine is not None else load_engine(cfg, say)
            transcriber, self.scheduler = shared_transcription(cfg, engine)
        self.sock = listen(options.host, options.port)
        aus_sock = None
        try:
            if options.audiosocket_port is not None:
                aus_sock = listen(options.host, options.audiosocket_port, "--audiosocket-port")
        except CalmlineError:
            self.sock.close()
            if self.scheduler is not None:
                self.scheduler.shutdown()
            raise
        self.port = self.sock.getsockname()[1]
        self.audiosocket_port = aus_sock.getsockname()[1] if aus_sock is not None else None
        self.base_url = options.base_url(self.port)
        public = urlsplit(self.base_url)
        names = [options.host] if options.host not in WILDCARDS else []
        names += [public.hostname] if public.hostname else []
        self.desks = Desks(names, public.port or self.port, LinkDesk(self.base_url, say, options.links_dir),
                           scheme=public.scheme)
        plan = ServePlan(events_dir=options.events_dir, transcribe=options.transcribe, hub=options.hub,
                         transcriber=transcriber, max_calls=options.max_calls)
        self.switchboard = Switchboard(cfg, plan, say, self.desks)
        self.audiosocket = (AudioSocketServer(self.switchboard, options.audiosocket_peers)
                            if aus_sock is not None else None)
        ingest = create_ingest_app(self.switchboard, options.keys, self.base_url, self.audiosocket)
        self.server = ServeServer(ServeApp(ingest, self.desks, self.audiosocket, aus_sock), self.sock,
                                  tls=options.tls)
        self._started = False

    def start(self) -> "Service":
        self.server.start()
        self._started = True
        for name in self.options.operators:
            self.desks.desk(name)
        ws = "wss" if urlsplit(self.base_url).scheme == "https" else "ws"
        where = self.base_url.split("://", 1)[1]
        self.say(f"taking calls at {ws}://{where}/ingest/twilio and {ws}://{where}/ingest/audiohook"
                 + (f", AudioSocket on port {self.audiosocket_port}" if self.audiosocket_port else ""))
        self.say(f"operator screens at {self.base_url}/operator/NAME/")
        return self

    def end_calls(self) -> None:
        """No new calls; every call's stream ends (its summary is still written, with
        ``call_end`` saying the server stopped it)."""
        self.switchboard.end_all("calmline serve stopped before the call ended")

    def hurry(self) -> None:
        self.switchboard.hurry_all()

    def stop(self, timeout: float = 60.0) -> bool:
        """End the calls, wait for them (bounded), stop serving; whether all finished."""
        self.end_calls()
        finished = self.switchboard.wait_all(timeout)
        if self._started:
            self.server.stop()
            self._started = False
        if self.scheduler is not None:
            self.scheduler.shutdown()
            self.scheduler = None
        return finished

    def __enter__(self) -> "Service":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def shared_transcription(cfg: Config, engine: Any) -> tuple[Callable[..., Any], Any]:
    """How every call transcribes with one model: ``(stage builder, the shared
    scheduler)``.  Each call's live stage queues its model calls on one
    :class:`~monitor.asr.scheduler.Scheduler` (customer first, fair across calls,
    never late, shedding in its fixed order), the same rules as ``calmline live``."""
    from monitor.asr.scheduler import Scheduler
    from monitor.asr.transcription import TranscriptionStage

    scheduler = Scheduler(max_age_s=cfg.transcription.max_age_s, workers=getattr(engine, "workers", 1))

    def build(bus: Any, speakers: tuple[str, ...]) -> Any:
        return TranscriptionStage(bus, speakers, engine, cfg.transcription, cfg.endpointing, cfg.vad,
                                  live=True, scheduler=scheduler)

    return build, scheduler


def load_engine(cfg: Config, say: Say) -> Any:
    """The configured model, loaded once for every call, decoding as the live stage
    does (the short encoder context).  On a CPU it runs as many model calls at once
    as there are cores for them (``[model] threads`` each, 1 when automatic: one
    thread decodes faster than two), so calls are transcribed side by side instead
    of one after another on threads that wait for each other."""
    from monitor.asr.engine import WhisperEngine
    from monitor.asr.model_load import load_whisper
    from monitor.asr.stage_build import LIVE_THREADS, usable_cores

    m = cfg.model
    threads, workers = m.threads, 1
    if m.device == "cpu":
        threads = m.threads or LIVE_THREADS
        workers = max(1, usable_cores() // threads)
    model = load_whisper(m.name, m.device, m.resolved_compute_type, threads, say=say, workers=workers)
    engine = WhisperEngine(model, cfg.transcription.max_new_tokens, short_context=True,
                           language_confidence=cfg.transcription.language_confidence, workers=workers)
    engine.warm_up(cfg.transcription.language, cfg.transcription.live_beam_size)
    return engine
