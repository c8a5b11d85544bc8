"""The command line as a new user meets it (issue 9, items 9, 12 and 14):
--version, SIGTERM ending a call like Ctrl-C, whole lines into a pipe, the
README's commands, the --call-id help, acks on the screen after the call, and a
per-test timeout so a hang fails fast."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.events import read_jsonl

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_main(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    return exc.value.code or 0


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def lines_in(path: Path) -> int:
    try:
        return len(path.read_text(encoding="utf-8").splitlines())
    except FileNotFoundError:
        return 0


# --- --version ---------------------------------------------------------------------------
def test_version(capsys):
    assert run_main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"calmline {version('calmline')}"


# --- whole lines into a pipe ----------------------------------------------------------------
def test_console_output_is_not_wrapped_at_80_columns_into_a_pipe(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    name = "a-recorded-call-with-a-rather-long-descriptive-name-from-the-quality-team-2024-05-17-operator-olga"
    call = tmp_path / f"{name}.flac"
    call.write_bytes((FIXTURES / "calm.flac").read_bytes())
    assert run_main(["replay", str(call), "--no-transcribe", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"{name}.flac: operator, customer" in out.splitlines()[0]
    assert max(len(line) for line in out.splitlines()) > 80


# --- SIGTERM ends a call like Ctrl-C ----------------------------------------------------
def test_sigterm_ends_a_realtime_replay_with_call_end_and_summary(tmp_path):
    events = tmp_path / "events.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.cli", "replay", str(FIXTURES / "escalation.flac"), "--realtime",
         "--no-transcribe", "--events", str(events)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lines_in(events) >= 5 or proc.poll() is not None, 60, "the first events")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    stream = read_jsonl(events.read_text(encoding="utf-8").splitlines())
    assert [e.type for e in stream[-2:]] == ["call_end", "summary"]
    assert stream[-1]["duration"] < 70          # ended early, not played to the end
    assert "escalation.flac: operator, customer" in out


FAKE_LIVE = textwrap.dedent("""
    import sys, threading, time
    import numpy as np
    import audio.mic_source as mic_source

    class FakeMic:
        def __init__(self, mic=None, far_end=None):
            self.channels, self.input_rate, self.description = 2, 16000, "fake headset + far end"
            self._stop = threading.Event()
        def stats(self):
            return {}
        def stop(self):
            self._stop.set()
        def blocks(self):
            rng = np.random.default_rng(0)
            while not self._stop.is_set():
                time.sleep(0.02)
                yield (rng.standard_normal((2, 320)) * 0.01).astype(np.float32)

    mic_source.MicSource = FakeMic   # the live command imports it when it runs
    from monitor.cli import main
    main(sys.argv[1:])
""")


def test_sigterm_ends_a_live_call_with_call_end_and_summary(tmp_path):
    events = tmp_path / "events.jsonl"
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_LIVE, "live", "--no-transcribe", "--no-browser",
         "--port", str(free_port()), "--events", str(events), "--call-id", "sigterm-live"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lines_in(events) >= 20 or proc.poll() is not None, 60, "live events")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    stream = read_jsonl(events.read_text(encoding="utf-8").splitlines())
    assert [e.type for e in stream[-2:]] == ["call_end", "summary"]
    assert "live call sigterm-live" in out


# --- an ack on the screen after the call ---------------------------------------------------
def test_an_ack_on_the_screen_after_the_call_is_recorded_not_a_500(tmp_path, monkeypatch, capsys):
    """``replay --ui --events``: the events file stays open while the screen is up, so
    an acknowledgement made after the call is written (after the summary) instead
    of failing with 'I/O operation on closed file'."""
    import monitor.cli.replay as cli_replay
    import monitor.web.screen as screen

    events = tmp_path / "events.jsonl"
    seen: dict = {}
    real_start = screen.start_screen

    def spy(bus, audio_time, **kwargs):
        seen["bus"], seen["audio_time"] = bus, audio_time
        return real_start(bus, audio_time, **kwargs)

    def after_the_call():
        # what the screen's ack route does (monitor/web/screen.py on_ack)
        written = read_jsonl(events.read_text(encoding="utf-8").splitlines())
        assert written[-1].type == "summary"
        prompts = [e for e in written if e.type == "prompt"]
        seen["pid"] = prompts[-1]["id"] if prompts else "none@0.00"
        seen["bus"].emit("prompt_ack", seen["audio_time"](), "operator", prompt_id=seen["pid"],
                         action="used")

    monkeypatch.setattr(screen, "start_screen", spy)
    monkeypatch.setattr(cli_replay, "wait_for_interrupt", after_the_call)
    assert run_main(["replay", str(FIXTURES / "escalation.flac"), "--no-transcribe", "--ui", "--no-browser",
                     "--port", str(free_port()), "--events", str(events)]) == 0
    written = read_jsonl(events.read_text(encoding="utf-8").splitlines())
    assert [e.type for e in written[-2:]] == ["summary", "prompt_ack"]
    assert written[-1]["prompt_id"] == seen["pid"] and written[-1]["action"] == "used"


def test_the_events_sink_counts_instead_of_crashing_after_close(tmp_path):
    from monitor.event_bus import EventBus
    from monitor.sinks import JsonlSink

    bus = EventBus("c1")
    sink = JsonlSink(tmp_path / "e.jsonl")
    bus.subscribe(sink)
    bus.emit("silence", 1.0, t_detected=6.0)
    sink.close()
    bus.emit("prompt_ack", 2.0, "operator", prompt_id="p@1", action="used")
    assert sink.count == 1 and sink.late == 1
    assert lines_in(tmp_path / "e.jsonl") == 1


# --- words a user reads --------------------------------------------------------------------
def test_readme_user_commands_are_not_a_shell_pipe():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "calmline hub user list | calmline" not in readme
    assert "calmline hub user list" in readme and "calmline hub user revoke" in readme


def test_call_id_help_states_the_real_default(capsys):
    assert run_main(["replay", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "with --hub" in help_text and "random part" in help_text


# --- a hang fails fast and names the test ----------------------------------------------------
def test_every_test_has_a_timeout_and_a_hang_fails_naming_the_test(tmp_path):
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert 60 <= int(config["tool"]["pytest"]["ini_options"]["timeout"]) <= 600
    assert any(d.startswith("pytest-timeout") for d in config["project"]["optional-dependencies"]["test"])
    (tmp_path / "test_stuck.py").write_text("import time\n\ndef test_stuck_forever():\n    time.sleep(600)\n")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "timeout=2", str(tmp_path / "test_stuck.py")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert time.monotonic() - started < 30
    assert "test_stuck_forever" in proc.stdout and "Timeout" in proc.stdout


def test_the_events_file_is_buffered_but_flushed_each_second_and_at_the_call_end(tmp_path):
    from monitor.event_bus import EventBus
    from monitor.sinks import JsonlSink

    now = [100.0]
    path = tmp_path / "e.jsonl"
    bus = EventBus("c1")
    sink = JsonlSink(path, clock=lambda: now[0])
    bus.subscribe(sink)
    bus.emit("silence", 1.0, t_detected=6.0)
    bus.emit("silence_end", 1.0, t_end=7.0)
    assert lines_in(path) == 0                  # still in the buffer: no write per event
    now[0] += 1.0
    bus.emit("silence", 8.0, t_detected=13.0)
    assert lines_in(path) == 3                  # a second went by: all of it is on disk
    bus.emit("silence_end", 8.0, t_end=14.0)
    assert lines_in(path) == 3
    bus.emit("call_end", 20.0, duration=20.0)
    assert lines_in(path) == 5                  # the end of the call is never left behind
    sink.close()


def test_the_console_says_why_prompts_were_held_back():
    from rich.console import Console

    from monitor.report.console import print_summary

    console = Console(record=True, width=200)
    summary = {"duration": 60.0, "speakers": {}, "overlaps": 0, "overlap_s": 0, "silences": 0,
               "silence_s": 0, "complete": True,
               "coach": {"escalation_timeline": [{"t": 0.0, "level": "calm"}], "peak_state": "calm",
                         "prompts": {"shown": 1, "log": [], "used": 0, "dismissed": 0,
                                     "suppressed": {"cooldown": 2, "rate_limit": 0, "outranked": 1}},
                         "steps": {}}}
    print_summary(summary, console, "a call")
    text = console.export_text()
    assert "3 held back (cooldown 2, outranked 1)" in text
