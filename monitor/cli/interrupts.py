"""Ctrl-C and SIGTERM end a call the same way.

A service manager, ``timeout`` or ``kill`` stops a process with SIGTERM; an
operator presses Ctrl-C (SIGINT).  Either one ends the call cleanly: the first
signal ends the call (``call_end`` and the summary are written), a second one
skips what is still waiting (``hurry``), a third interrupts outright
(``KeyboardInterrupt``).  Signal handlers can only be installed on the main
thread; elsewhere (a test calling a command on another thread) nothing is
installed.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def ending_the_call(end: Callable[[], None], hurry: Callable[[], None]) -> Iterator[None]:
    """While inside: the first Ctrl-C/SIGTERM calls ``end``, the second ``hurry``,
    the third raises ``KeyboardInterrupt``."""
    if not _on_main_thread():
        yield
        return
    count = [0]

    def handler(signum: int, frame: object) -> None:
        count[0] += 1
        if count[0] == 1:
            end()
        elif count[0] == 2:
            hurry()
        else:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """While inside: SIGTERM raises ``KeyboardInterrupt``, as Ctrl-C does."""
    if not _on_main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
