"""The event bus: stamps each event with the call, a sequence number and the
wall clock, and hands it to every sink in order.

Stages emit; sinks (JSON lines, the summary, the coach, the web page, the hub)
subscribe.  Sinks never reach into stages.  A sink may itself emit (the coach
turns an utterance into a trigger and a prompt): the new event is queued and
delivered to every sink after the current one, so all sinks see one order, the
order of ``seq``.  Events from the frame thread and the transcriber worker get
one gap-free sequence; one thread at a time delivers.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections import deque
from typing import Any, Callable

from audio.facts import Fact
from monitor.events import Event, make_event

Sink = Callable[[Event], None]


def default_call_id(prefix: str) -> str:
    """A call id unique across a contact center: prefix, date and time, host, random.

    Only ASCII letters, digits, '.', '_' and '-' (what a hub takes), at most 104
    characters: a file name with spaces or accents makes a valid call id."""
    prefix = re.sub(r"[^A-Za-z0-9._-]", "_", prefix)[:60] or "call"
    host = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0])[:20]
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}-{host or 'pc'}-{uuid.uuid4().hex[:6]}"


class EventBus:
    def __init__(self, call_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.call_id = call_id
        self._clock = clock
        self._t0 = clock()
        self._seq = 0
        self._sinks: list[Sink] = []
        self._lock = threading.Lock()          # guards seq and the queue
        self._deliver = threading.RLock()      # one delivering thread at a time
        self._queue: deque[Event] = deque()
        self._delivering = False

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def mark_start(self, at: float | None = None) -> None:
        """The stream starts now (or at clock time ``at``, e.g. when a sound device
        captured its first sample): ``wall`` counts from here."""
        self._t0 = self._clock() if at is None else at

    def wall(self) -> float:
        """Seconds since the stream started, by the monotonic clock."""
        return self._clock() - self._t0

    def emit(self, type: str, t: float, speaker: str | None = None, **data: Any) -> Event:
        with self._deliver:
            with self._lock:
                event = make_event(type, call_id=self.call_id, seq=self._seq, t=t,
                                   wall=self.wall(), speaker=speaker, **data)
                self._seq += 1
                self._queue.append(event)
            if not self._delivering:        # not called from inside a sink
                self._delivering = True
                try:
                    while self._queue:
                        queued = self._queue.popleft()
                        for sink in self._sinks:
                            sink(queued)
                finally:
                    self._delivering = False
                    self._queue.clear()
        return event

    def emit_fact(self, fact: Fact) -> Event:
        return self.emit(fact.kind, fact.t, fact.speaker, **fact.data)
