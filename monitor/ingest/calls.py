"""The calls a ``calmline serve`` process is taking: one call session each.

A protocol handler (Twilio, AudioHook, AudioSocket) asks the
:class:`Switchboard` for a call when its stream says who it is; it gets a
:class:`LiveCall` whose :class:`~audio.stream_source.StreamSource` it pushes the
decoded audio into, and ends it when the stream ends (with an error when the
stream broke).  Each call runs the same :class:`~monitor.session.CallSession` as
``calmline live`` on its own thread: events to ``DIR/<call id>.jsonl`` when
asked, the hub with its spool, the operator's screen, transcription through the
process's one model and scheduler.  A call that breaks still ends cleanly: ``call_end``
(with the error) and the summary are written, and everything received before
the break is in them.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from audio.channels import ChannelMap
from audio.errors import AudioDecodeError
from audio.stream_source import StreamSource
from monitor.config import Config
from monitor.errors import CalmlineError
from monitor.pipeline import CallInfo
from monitor.session import CallSession, HubTarget, Outputs, SessionPlan

CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
Say = Callable[[str], None]


class CallRefused(Exception):
    """A stream's call cannot be taken (a one-line reason for the protocol's error)."""


class Screens(Protocol):
    """The operator screens (``monitor.web.desks.Desks``), as the switchboard uses them."""

    def attach(self, operator: str, session: CallSession) -> Callable[[], None] | None: ...


@dataclass(frozen=True)
class CallRequest:
    """What a stream says about its call."""

    call_id: str
    protocol: str                    # twilio | audiohook | audiosocket
    speakers: tuple[str, ...]        # the speaker of each channel the stream carries
    operator: str | None = None      # whose screen shows it
    description: str = ""


@dataclass(frozen=True)
class ServePlan:
    """How every call of this process is run (validated by the CLI)."""

    events_dir: Path | None = None
    transcribe: bool = True
    hub: HubTarget | None = None
    transcriber: Callable[..., Any] | None = None   # builds a call's stage on the shared model
    max_calls: int = 20
    queue_seconds: float = 10.0


class LiveCall:
    """One call in progress: the source its stream pushes into, its session's thread."""

    def __init__(self, request: CallRequest, call_id: str, events: Path | None, queue_seconds: float) -> None:
        self.request = request
        self.call_id = call_id
        self.events = events
        self.source = StreamSource(len(request.speakers), description=request.description or request.protocol,
                                   queue_seconds=queue_seconds)
        self.summary: dict[str, Any] = {}
        self.error: str | None = None      # why the call broke (stream or session)
        self.failed = False                # the session could not run: stop sending
        self.done = threading.Event()
        self.session: CallSession | None = None
        self.thread: threading.Thread | None = None

    def end(self, error: str | None = None) -> None:
        """The stream is over (``error``: it broke); the call finishes on its thread."""
        self.source.end(error)

    def hurry(self) -> None:
        if self.session is not None:
            self.session.hurry()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


class Switchboard:
    def __init__(self, cfg: Config, plan: ServePlan, say: Say, screens: Screens | None = None) -> None:
        self.cfg = cfg
        self.plan = plan
        self.say = say
        self.screens = screens
        self._lock = threading.Lock()
        self._calls: dict[str, LiveCall] = {}
        self._used: set[str] = set()         # call ids this process has run
        self.refused = 0
        self.finished = 0
        self.closing = False

    # --- calls ---------------------------------------------------------------------------
    def start_call(self, request: CallRequest) -> LiveCall:
        """Take a call (its session starts on its own thread); raises :class:`CallRefused`."""
        if not CALL_ID.fullmatch(request.call_id):
            self._refuse()
            raise CallRefused("the call id must be 1-128 letters, digits, '.', '_' or '-'")
        with self._lock:
            if self.closing:
                self._refuse_locked()
                raise CallRefused("the server is shutting down")
            if request.call_id in self._calls:
                self._refuse_locked()
                raise CallRefused(f"call {request.call_id} is already streaming")
            if len(self._calls) >= self.plan.max_calls:
                self._refuse_locked()
                raise CallRefused(f"too many calls at once (--max-calls {self.plan.max_calls})")
            call_id = self._fresh_id(request.call_id)
            events = self.plan.events_dir / f"{call_id}.jsonl" if self.plan.events_dir else None
            call = LiveCall(request, call_id, events, self.plan.queue_seconds)
            self._calls[request.call_id] = call
            self._used.add(call_id)
        call.thread = threading.Thread(target=self._run, args=(call,), name=f"call-{call_id[:40]}",
                                       daemon=True)
        call.thread.start()
        return call

    def _fresh_id(self, wanted: str) -> str:
        """The call id, or ``id.2``, ``id.3``... when this one already has a recording
        (a reconnected stream never overwrites or merges into another's events)."""
        candidate, n = wanted, 1
        while candidate in self._used or (self.plan.events_dir is not None
                                          and (self.plan.events_dir / f"{candidate}.jsonl").exists()):
            n += 1
            candidate = f"{wanted}.{n}"
        return candidate

    def _refuse(self) -> None:
        with self._lock:
            self._refuse_locked()

    def _refuse_locked(self) -> None:
        self.refused += 1

    def active(self) -> list[LiveCall]:
        with self._lock:
            return list(self._calls.values())

    # --- one call's thread ---------------------------------------------------------------
    def _run(self, call: LiveCall) -> None:
        request = call.request
        n = len(request.speakers)
        info = CallInfo(f"{request.protocol}: {request.description or call.call_id}", call.source.input_rate, n,
                        ChannelMap(tuple(range(n)), request.speakers, n))
        plan = SessionPlan(transcribe=self.plan.transcribe, live=True,
                           outputs=Outputs(events=str(call.events) if call.events else None),
                           hub=self.plan.hub, transcriber=self.plan.transcriber)
        detach: Callable[[], None] | None = None
        try:
            with CallSession(self.cfg, call.call_id, info, plan, self._say_for(call)) as session:
                session.pipeline.source_stats = call.source.stats
                call.session = session
                if self.screens is not None and request.operator:
                    detach = self.screens.attach(request.operator, session)
                    if detach is None:
                        self.say(f"call {call.call_id}: no screen for operator {request.operator[:64]!r} "
                                 "(use 1-64 letters, digits, '.', '_' or '-')")
                self.say(f"call {call.call_id} started ({request.protocol}"
                         + (f", operator {request.operator}" if request.operator else "") + ")")
                try:
                    summary = session.run(call.source)
                except AudioDecodeError as exc:          # the stream broke: summarised up to there
                    call.error = str(exc)
                    summary = dict(session.final)
                call.summary = session.finish(summary)
                hub_error = session.hub_error()
                if hub_error:
                    call.error = call.error or hub_error
        except CalmlineError as exc:        # the session could not start (events file, hub token)
            call.failed = True
            call.error = str(exc)
            call.source.end()
        except Exception as exc:  # a bug: this call ends, the others go on
            call.failed = True
            call.error = f"internal error: {type(exc).__name__}: {exc}"
            call.source.end()
        finally:
            if detach is not None:
                detach()
            with self._lock:
                self._calls.pop(request.call_id, None)
                self.finished += 1
            self.say(f"call {call.call_id} ended" + (f": {call.error}" if call.error else ""))
            call.done.set()

    def _say_for(self, call: LiveCall) -> Say:
        return lambda message: self.say(f"{call.call_id}: {message}")

    # --- the process's end ---------------------------------------------------------------
    def end_all(self, reason: str | None = None) -> None:
        """No new calls; every call's stream ends now (what was received is processed)."""
        with self._lock:
            self.closing = True
            calls = list(self._calls.values())
        for call in calls:
            call.end(reason)

    def hurry_all(self) -> None:
        for call in self.active():
            call.hurry()

    def wait_all(self, timeout: float | None = None) -> bool:
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        for call in self.active():
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not call.wait(left):
                return False
        return True
