"""Protocol-faithful phone-system clients for the ``calmline serve`` tests and the
capacity benchmark: a Twilio Media Streams sender, a Genesys AudioHook client
and an Asterisk AudioSocket sender, each streaming a recording in its own wire
format (mu-law or 16-bit at 8 kHz, 20 ms frames), paced by a clock the caller
gives (real time, fast-forward, or not at all).

They follow the published message formats: Twilio's ``connected``/``start``/
``media``/``stop`` JSON with string ``sequenceNumber``, ``chunk`` and
``timestamp``; AudioHook's versioned messages with ``seq``/``serverseq``/
``position`` and the open, ping, close transactions (checking the server's
``seq`` and ``clientseq`` as the reference client does); AudioSocket's 3-byte
headers.
"""

from __future__ import annotations

import base64
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import av
import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from audio import mulaw

RATE = 8000
FRAME = 160                                    # 20 ms at 8 kHz
ROOT = Path(__file__).resolve().parent.parent
Pace = Callable[[float], None]                 # wait until this many seconds of audio were sent


def load_8k(name: str, seconds: float | None = None) -> np.ndarray:
    """A fixture (or any file) as (channels, n) int16 at 8 kHz."""
    path = Path(name) if Path(name).suffix else ROOT / "fixtures" / f"{name}.flac"
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        layout = "mono" if stream.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="s16p", layout=layout, rate=RATE)
        parts = []
        for frame in container.decode(stream):
            parts += [f.to_ndarray() for f in resampler.resample(frame)]
        parts += [f.to_ndarray() for f in resampler.resample(None)]
    out = np.concatenate(parts, axis=1).astype(np.int16)
    return out if seconds is None else out[:, : int(seconds * RATE)]


def real_time(speed: float = 1.0) -> Pace:
    """Pace at ``speed`` x real time (1.0: as a live call; 10.0: fast-forward)."""
    start = time.monotonic()

    def pace(audio_s: float) -> None:
        ahead = start + audio_s / speed - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)

    return pace


# --- Twilio Media Streams --------------------------------------------------------------
def twilio_messages(audio: np.ndarray, *, call_sid: str, operator: str | None = None,
                    stream_sid: str | None = None, tracks: tuple[str, ...] = ("inbound", "outbound"),
                    stop: bool = True) -> Iterator[tuple[float, str]]:
    """(audio seconds, JSON text) of a whole stream; ``audio`` is (2, n) int16 with the
    operator on channel 0 and the customer on channel 1 (a fixture's layout)."""
    stream_sid = stream_sid or "MZ" + uuid.uuid4().hex
    account = "AC" + "0" * 32
    seq = 0

    def number() -> str:
        nonlocal seq
        seq += 1
        return str(seq)

    yield 0.0, json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    params = {"operator": operator} if operator else {}
    yield 0.0, json.dumps({"event": "start", "sequenceNumber": number(), "streamSid": stream_sid,
                           "start": {"accountSid": account, "streamSid": stream_sid, "callSid": call_sid,
                                     "tracks": list(tracks), "customParameters": params,
                                     "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE,
                                                     "channels": 1}}})
    channel = {"inbound": 1, "outbound": 0}
    for k, start in enumerate(range(0, audio.shape[1], FRAME)):
        for track in tracks:
            payload = mulaw.encode(audio[channel[track], start:start + FRAME])
            yield start / RATE, json.dumps({
                "event": "media", "sequenceNumber": number(), "streamSid": stream_sid,
                "media": {"track": track, "chunk": str(k + 1), "timestamp": str(start * 1000 // RATE),
                          "payload": base64.b64encode(payload).decode()}})
    if stop:
        yield audio.shape[1] / RATE, json.dumps({
            "event": "stop", "sequenceNumber": number(), "streamSid": stream_sid,
            "stop": {"accountSid": account, "callSid": call_sid}})


def twilio_stream(url: str, messages: Iterator[tuple[float, str]], *, pace: Pace | None = None,
                  headers: dict[str, str] | None = None, after: int | None = None) -> dict[str, Any]:
    """Send a stream; ``after`` messages then drop the connection (a disconnect mid-call).
    Returns how the server closed (``code``, ``reason``)."""
    with connect(url, additional_headers=headers or {}, max_size=2 ** 20, open_timeout=10) as ws:
        for n, (at, text) in enumerate(messages):
            if after is not None and n >= after:
                ws.socket.shutdown(socket.SHUT_RDWR)     # no close frame: the line dropped
                return {"code": None, "reason": "dropped"}
            if pace is not None:
                pace(at)
            try:
                ws.send(text)
            except ConnectionClosed:          # the server ended the stream (a protocol error)
                break
        try:
            ws.recv(timeout=10)
        except Exception:
            pass
        return {"code": ws.close_code, "reason": ws.close_reason}


# --- Genesys AudioHook ----------------------------------------------------------------
@dataclass
class AudioHookClient:
    """The client side of an AudioHook session (protocol version 2)."""

    url: str
    api_key: str = "key"
    organization: str = field(default_factory=lambda: str(uuid.uuid4()))
    session: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = 0
    serverseq: int = 0
    position: float = 0.0
    received: list[dict[str, Any]] = field(default_factory=list)
    ws: Any = None
    _cm: Any = None

    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.api_key, "Audiohook-Organization-Id": self.organization,
                "Audiohook-Session-Id": self.session, "Audiohook-Correlation-Id": str(uuid.uuid4())}

    def __enter__(self) -> "AudioHookClient":
        self._cm = connect(self.url, additional_headers=self.headers(), max_size=2 ** 20, open_timeout=10)
        self.ws = self._cm.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(None, None, None)

    def send(self, kind: str, parameters: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        msg = {"version": "2", "id": self.session, "type": kind, "seq": self.seq,
               "serverseq": self.serverseq, "position": f"PT{self.position:.3f}S", "parameters": parameters}
        self.ws.send(json.dumps(msg))
        return msg

    def recv(self, timeout: float = 10.0) -> dict[str, Any]:
        msg = json.loads(self.ws.recv(timeout=timeout))
        assert msg["version"] == "2" and msg["id"] == self.session, msg
        assert msg["seq"] == self.serverseq + 1, f"server seq {msg['seq']} after {self.serverseq}"
        assert msg["clientseq"] <= self.seq
        self.serverseq = msg["seq"]
        self.received.append(msg)
        return msg

    def open(self, conversation: str, *, operator: str | None = None,
             media: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        offered = media or [{"type": "audio", "format": "PCMU", "channels": ["external", "internal"],
                             "rate": RATE},
                            {"type": "audio", "format": "PCMU", "channels": ["external"], "rate": RATE}]
        params: dict[str, Any] = {
            "organizationId": self.organization, "conversationId": conversation,
            "participant": {"id": str(uuid.uuid4()), "ani": "+15551230000", "aniName": "",
                            "dnis": "+15559870000"},
            "media": offered, "language": "en-US"}
        if operator:
            params["inputVariables"] = {"operator": operator}
        sent = self.send("open", params)
        reply = self.recv()
        assert reply["clientseq"] == sent["seq"]
        return reply

    def ping(self) -> dict[str, Any]:
        sent = self.send("ping", {})
        reply = self.recv()
        assert reply["type"] == "pong" and reply["clientseq"] == sent["seq"], reply
        return reply

    def stream(self, audio: np.ndarray, *, pace: Pace | None = None, ping_every_s: float = 5.0,
               fmt: str = "PCMU") -> None:
        """``audio`` (2, n) int16, operator on channel 0: sent as [external, internal]."""
        ordered = audio[[1, 0]] if audio.shape[0] == 2 else audio
        next_ping = ping_every_s
        for start in range(0, audio.shape[1], FRAME):
            block = ordered[:, start:start + FRAME]
            if pace is not None:
                pace(start / RATE)
            interleaved = np.ascontiguousarray(block.T).reshape(-1)
            data = mulaw.encode(interleaved) if fmt == "PCMU" else interleaved.astype("<i2").tobytes()
            self.ws.send(data)
            self.position = (start + block.shape[1]) / RATE
            if self.position >= next_ping:
                self.ping()
                next_ping += ping_every_s

    def close(self, reason: str = "end") -> dict[str, Any]:
        sent = self.send("close", {"reason": reason})
        while True:
            reply = self.recv()
            if reply["type"] == "closed":
                assert reply["clientseq"] == sent["seq"]
                return reply


# --- Asterisk AudioSocket -------------------------------------------------------------
def audiosocket_frame(kind: int, payload: bytes = b"") -> bytes:
    return bytes([kind]) + len(payload).to_bytes(2, "big") + payload


def audiosocket_stream(port: int, stream_uuid: str, samples: np.ndarray, *, pace: Pace | None = None,
                       hangup: bool = True, host: str = "127.0.0.1", ready: Any = None) -> bytes:
    """One direction of a call (int16 mono samples); returns what the server sent back.
    ``ready`` (a barrier): wait for the call's other streams to connect before the
    audio, as Asterisk's two snoop channels of a call start together."""
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(audiosocket_frame(0x01, uuid.UUID(stream_uuid).bytes))
        if ready is not None:
            ready.wait()
        for start in range(0, samples.size, FRAME):
            if pace is not None:
                pace(start / RATE)
            sock.sendall(audiosocket_frame(0x10, samples[start:start + FRAME].astype("<i2").tobytes()))
        if hangup:
            sock.sendall(audiosocket_frame(0x00))
        sock.shutdown(socket.SHUT_WR)
        back = b""
        try:
            while chunk := sock.recv(4096):
                back += chunk
        except OSError:
            pass
        return back


# --- reading what the server wrote ----------------------------------------------------
def read_events(path: Path, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The call's events once its summary is written (waits up to ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if lines and lines[-1]["type"] == "summary":
                return lines
        time.sleep(0.05)
    raise AssertionError(f"{path}: no summary within {timeout} s")


# --- a server for the tests ---------------------------------------------------------
# a transcript is never dropped for lateness in the tests: on a loaded test machine
# "late" is a matter of scheduling, not of what is being tested
PATIENT = {"transcription": {"max_age_s": 60.0}}


def serving(tmp_path: Path, *, engine: Any = None, say: Callable[[str], None] | None = None, **options: Any):
    """A started ``calmline serve`` on a free loopback port (no model unless ``engine``)."""
    from monitor.config import load_config
    from monitor.ingest.service import ServeOptions, Service

    options.setdefault("port", 0)
    options.setdefault("events_dir", tmp_path / "calls")
    options.setdefault("transcribe", engine is not None)
    opts = ServeOptions(**options)
    opts.check()
    return Service(load_config(None, PATIENT), opts, say or (lambda message: None), engine=engine)
