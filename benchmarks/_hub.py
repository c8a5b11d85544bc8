"""Plumbing the hub benchmarks share: a hub process on a free port, its CPU
time, and percentiles.  Not part of calmline itself.

    with running_hub(db, work / "hub.log") as hub:
        ... hub.port, hub.proc.pid ...
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent


def calmline_cmd() -> list[str]:
    """The installed ``calmline`` next to this Python, else ``python -m monitor.cli``."""
    script = Path(sys.executable).parent / "calmline"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monitor.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status_kb(pid: int, key: str) -> int:
    """A ``/proc/PID/status`` figure in kB (``VmRSS``, ``VmHWM``), 0 if absent."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Hub:
    proc: subprocess.Popen
    port: int


@contextlib.contextmanager
def running_hub(db: Path, log_path: Path, *extra: str) -> Iterator[Hub]:
    """``calmline hub --db DB`` on a free loopback port until the block ends (SIGINT,
    then kill after 15 s); SystemExit if it does not answer within 30 s."""
    port = free_port()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(calmline_cmd() + ["hub", "--db", str(db), "--port", str(port), *extra],
                                stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))
        try:
            _wait_until_listening(proc, port, log_path)
            yield Hub(proc, port)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_until_listening(proc: subprocess.Popen, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the hub exited ({proc.returncode}); see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit("the hub did not start within 30 s")
            time.sleep(0.1)
