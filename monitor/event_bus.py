"""The event bus: stamps each event with the call, a sequence number and the
wall clock, and hands it to every sink in order.

Stages emit; sinks (JSON lines, the summary, the web page, the hub) subscribe.
Sinks never reach into stages.  Emission is serialised by a lock, so events from
the frame thread and the transcriber worker get one gap-free sequence.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from audio.facts import Fact
from monitor.events import Event, make_event

Sink = Callable[[Event], None]


class EventBus:
    def __init__(self, call_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.call_id = call_id
        self._clock = clock
        self._t0 = clock()
        self._seq = 0
        self._sinks: list[Sink] = []
        self._lock = threading.Lock()

    def subscribe(self, sink: Sink) -> None:
        self._sinks.append(sink)

    def mark_start(self) -> None:
        """The stream starts now: ``wall`` counts from here."""
        self._t0 = self._clock()

    def wall(self) -> float:
        """Seconds since the stream started, by the monotonic clock."""
        return self._clock() - self._t0

    def emit(self, type: str, t: float, speaker: str | None = None, **data: Any) -> Event:
        with self._lock:
            event = make_event(type, call_id=self.call_id, seq=self._seq, t=t,
                               wall=self.wall(), speaker=speaker, **data)
            self._seq += 1
            for sink in self._sinks:
                sink(event)
        return event

    def emit_fact(self, fact: Fact) -> Event:
        return self.emit(fact.kind, fact.t, fact.speaker, **fact.data)
