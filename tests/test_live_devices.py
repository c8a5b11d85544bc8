"""``calmline live`` through real PortAudio devices: a private PulseAudio daemon
(HOME and runtime dir of this test), two null sinks whose monitors are ALSA
capture devices, a short call played into them with ``paplay`` at 1x, and the
command ended with SIGTERM as a service manager would.

Skipped, with the reason, only when PulseAudio cannot start here
(``scripts/install-system-deps --test`` installs it).
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tests.pulse import PrivatePulse, PulseError, write_wav
from tests.signals import noise, voice

CALMLINE = Path(sys.executable).with_name("calmline")


@pytest.fixture
def pulse(tmp_path):
    pa = PrivatePulse(tmp_path / "pulse")
    try:
        pa.start()
    except PulseError as exc:
        pytest.skip(f"PulseAudio cannot start here: {exc}")
    yield pa
    pa.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def channel(*parts) -> np.ndarray:
    """('voice', seconds) and ('gap', seconds) over a quiet line."""
    x = np.concatenate([voice(p[1], -26.0, seed=k) if p[0] == "voice"
                        else np.zeros(int(16000 * p[1]), np.float32) for k, p in enumerate(parts)])
    return x + noise(len(x) / 16000)


def read_events(path: Path) -> list[dict]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip().endswith("}")]


def wait_for(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_a_live_call_through_two_sound_devices_ends_cleanly_on_sigterm(pulse, tmp_path):
    operator = write_wav(tmp_path / "operator.wav", channel(("gap", 0.5), ("voice", 1.6), ("gap", 3.4)))
    customer = write_wav(tmp_path / "customer.wav", channel(("gap", 2.6), ("voice", 1.6), ("gap", 1.3)))
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [str(CALMLINE), "live", "--mic", "headset_in", "--far-end", "customer_in", "--events", str(events),
         "--no-browser", "--no-transcribe", "--port", str(free_port()), "--call-id", "ci-live-devices"],
        env=pulse.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        assert wait_for(lambda: any("listening on" in line for line in err) or proc.poll() is not None, 60), \
            "calmline live never started listening"
        assert proc.poll() is None, "".join(err)
        assert "headset_in" in "".join(err) and "customer_in" in "".join(err)
        players = [pulse.play("headset", operator), pulse.play("customer", customer)]
        for player in players:
            assert player.wait(30) == 0, player.stderr.read()

        def both_heard() -> bool:
            starts = {e.get("speaker") for e in read_events(events) if e["type"] == "speech_end"}
            return {"operator", "customer"} <= starts
        assert wait_for(both_heard, 20), f"speech from both devices never came: {''.join(err)[-500:]}"
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)                      # stderr is the reader's alone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(5)
    assert proc.returncode == 0, "".join(err)[-1000:]
    got = read_events(events)
    assert [e["type"] for e in got[-2:]] == ["call_end", "summary"]
    summary = got[-1]
    assert set(summary["speakers"]) == {"operator", "customer"}
    for speaker in ("operator", "customer"):
        assert 1.0 <= summary["speakers"][speaker]["speech_s"] <= 2.5, summary["speakers"]
    starts = {e["speaker"]: e["t"] for e in got if e["type"] == "speech_start"}
    # the customer spoke 2.1 s after the operator: the two devices line up
    assert 1.6 <= starts["customer"] - starts["operator"] <= 2.6
    assert "ending the call" in "".join(err)
