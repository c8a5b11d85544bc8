"""A private PulseAudio daemon with two null sinks, offered to PortAudio as ALSA
capture devices: the real device path of ``calmline live`` without a sound card.

    with PrivatePulse(tmp_path) as pa:               # HOME and runtime dir of its own
        calmline = subprocess.Popen([..., "--mic", "headset_in", "--far-end", "customer_in"],
                                    env=pa.env)
        pa.play("headset", "operator.wav"); pa.play("customer", "customer.wav")

Each sink's monitor is an ALSA PCM in a private ``~/.asoundrc``
(``pcm.headset_in { type pulse; device "headset.monitor" }``), so PortAudio lists
``headset_in`` and ``customer_in``.  The daemon runs in the foreground as our own
child (no autospawn, no D-Bus, no system daemon touched) and is stopped by its
pid.  Run as root it prints a warning and works.  Used by
``tests/test_live_devices.py`` and ``benchmarks/live_latency.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

SINKS = ("headset", "customer")
TOOLS = ("pulseaudio", "pactl", "paplay")


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """Mono float samples as a 16-bit WAV (what paplay plays)."""
    import wave

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


class PulseError(RuntimeError):
    """The daemon could not be started (the message says why)."""


class PrivatePulse:
    def __init__(self, root: Path, sinks: tuple[str, ...] = SINKS) -> None:
        self.root = Path(root)
        self.sinks = sinks
        self.home = self.root / "home"
        self.runtime = self.root / "run"
        self.log = self.root / "pulseaudio.log"
        self.proc: subprocess.Popen | None = None
        self.players: list[subprocess.Popen] = []
        socket = self.runtime / "pulse" / "native"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PULSE_SERVER", "PULSE_COOKIE", "ALSA_CONFIG_PATH", "DISPLAY")}
        self.env.update(HOME=str(self.home), XDG_RUNTIME_DIR=str(self.runtime),
                        XDG_CONFIG_HOME=str(self.home / ".config"), PULSE_SERVER=f"unix:{socket}")

    def _write_config(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        conf = self.home / ".config" / "pulse"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "client.conf").write_text("autospawn = no\n")
        pcms = "".join(
            f'pcm.{sink}_in {{\n    type pulse\n    device "{sink}.monitor"\n'
            f'    hint {{ show on description "calmline test {sink}" }}\n}}\n'
            for sink in self.sinks)
        (self.home / ".asoundrc").write_text(pcms)

    def start(self, timeout: float = 15.0) -> "PrivatePulse":
        missing = missing_tools()
        if missing:
            raise PulseError(f"not installed: {', '.join(missing)} "
                             "(scripts/install-system-deps --test installs them)")
        self._write_config()
        args = ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
                "--use-pid-file=no", "--log-target=stderr",
                "--load=module-native-protocol-unix"]
        args += [f"--load=module-null-sink sink_name={sink}" for sink in self.sinks]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PulseError(f"pulseaudio exited at once ({self.proc.returncode}): "
                                 f"{self.log_tail()}")
            if self._ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise PulseError(f"pulseaudio did not come up within {timeout:g} s: {self.log_tail()}")

    def _ready(self) -> bool:
        try:
            out = subprocess.run(["pactl", "list", "short", "sinks"], env=self.env, timeout=5,
                                 capture_output=True, text=True)
        except subprocess.TimeoutExpired:
            return False
        return out.returncode == 0 and all(sink in out.stdout for sink in self.sinks)

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        useful = [x for x in text if not x.startswith("W: [pulseaudio] authkey.c")]
        return " | ".join(useful[-lines:]) or "(empty log)"

    def play(self, sink: str, wav: Path) -> subprocess.Popen:
        """Play a file into a sink at 1x (paplay), in the background."""
        proc = subprocess.Popen(["paplay", "-d", sink, str(wav)], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.players.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.players + ([self.proc] if self.proc is not None else []):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.players.clear()
        self.proc = None

    def __enter__(self) -> "PrivatePulse":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
