"""Sinks that write the event stream somewhere."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import IO, Callable

from monitor.errors import CalmlineError
from monitor.events import Event


FLUSH_EVERY_S = 1.0


class JsonlSink:
    """One JSON object per line, written through a buffer: flushed at least once a
    second (by the monotonic clock), at the end of the call (``call_end`` and
    ``summary``) and on close, so Ctrl-C or an error loses nothing and a crash at
    most the last second, while a replay does not pay one system call per event."""

    def __init__(self, target: str | Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.target = str(target)
        self._clock = clock
        if self.target == "-":
            self._fh: IO[str] = sys.stdout
            self._own = False
        else:
            path = Path(target)
            if path.is_dir():
                raise CalmlineError(f"--events {path}: is a directory")
            try:
                self._fh = open(path, "w", encoding="utf-8")
            except OSError as exc:
                raise CalmlineError(f"--events {path}: cannot write ({exc.strerror})") from None
            self._own = True
        self.count = 0
        self._flushed_at = clock()
        self.late = 0           # events that came after close (not written; counted)
        self._closed = False
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        line = event.to_json() + "\n"
        with self._lock:
            if self._closed:    # never "I/O operation on closed file" in another thread
                self.late += 1
                return
            self._fh.write(line)
            self.count += 1
            now = self._clock()
            if event.type in ("call_end", "summary") or now - self._flushed_at >= FLUSH_EVERY_S:
                self._fh.flush()
                self._flushed_at = now

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._own:
                self._fh.close()
            else:
                self._fh.flush()
