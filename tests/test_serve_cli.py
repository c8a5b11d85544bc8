"""`calmline serve` as a command: one-line refusals (exit 2), and end to end with the
real bundled model: a Twilio stream of the escalation call's loudest stretch comes
out as a call with words, triggers and a summary; SIGTERM stops the server cleanly."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from monitor.cli.app import main
from tests.serve_clients import load_8k, read_events, real_time, twilio_messages, twilio_stream

ROOT = Path(__file__).resolve().parent.parent


def run_main(capsys, *args):
    with pytest.raises(SystemExit) as done:
        main(["serve", *args])
    err = capsys.readouterr().err.strip()
    return done.value.code, err


@pytest.mark.parametrize("args, says", [
    (["--host", "0.0.0.0"], "need an ingest secret"),
    (["--host", "10.1.2.3", "--twilio-auth-token", "t"], "need TLS"),
    (["--public-url", "ftp://x"], "--public-url"),
    (["--audiosocket-peer", "not-an-address", "--audiosocket-port", "0"], "--audiosocket-peer"),
    (["--operator", "bad name"], "--operator"),
    (["--max-calls", "0"], "--max-calls"),
])
def test_unsafe_or_impossible_settings_are_one_line_and_exit_2(capsys, args, says):
    code, err = run_main(capsys, "--no-transcribe", *args)
    assert code == 2 and says in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_port_in_use_is_one_line(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        code, err = run_main(capsys, "--no-transcribe", "--port", str(taken.getsockname()[1]))
    assert code == 2 and "cannot listen on 127.0.0.1" in err


def test_end_to_end_with_the_bundled_model(tmp_path):
    clip = load_8k("escalation")[:, int(34.9 * 8000): int(40.9 * 8000)]   # "manager", then "court"
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200")
    settings = tmp_path / "calm.toml"               # words are never too late on a busy test machine
    settings.write_text("[transcription]\nmax_age_s = 60.0\n")
    proc = subprocess.Popen([sys.executable, "-m", "monitor.cli", "serve", "--port", "0", "--language", "en",
                             "--events-dir", str(tmp_path / "calls"), "--config", str(settings)],
                            cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "calmline serve exited early"
            m = re.search(r"ws://127\.0\.0\.1:(\d+)/ingest/twilio", line)
            port = int(m.group(1)) if m else None
        twilio_stream(f"ws://127.0.0.1:{port}/ingest/twilio",        # as a live call comes in
                      twilio_messages(clip, call_sid="CA-e2e", operator="olga"), pace=real_time(1.0))
        events = read_events(tmp_path / "calls" / "CA-e2e.jsonl", timeout=90)
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 0, rest
    assert "1 call(s) taken" in rest
    said = " ".join(e["text"] for e in events if e["type"] == "utterance" and e["speaker"] == "customer")
    assert "manager" in said.lower() and "court" in said.lower()
    triggers = {e["category"] for e in events if e["type"] == "trigger"}
    assert {"manager_request", "legal_threat"} <= triggers
    assert any(e["type"] == "prompt" for e in events)
    tr = events[-1]["transcription"]
    assert tr["mode"] == "live" and tr["errors"] == 0 and tr["languages"]["customer"] == "en"
    assert tr["utterances"] >= 2 and tr["lag_s"]["p95"] < 10
