"""Sinks that write the event stream somewhere."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO

from monitor.errors import CalmlineError
from monitor.events import Event


class JsonlSink:
    """One JSON object per line, flushed per event so a crash or Ctrl-C never
    loses what was already emitted."""

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
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
            self._fh.flush()
            self.count += 1

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._own:
                self._fh.close()
