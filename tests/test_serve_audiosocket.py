"""calmline serve, Asterisk AudioSocket: each direction of a call on its own TCP stream
(UUIDs ending in 0 and 1), paired into one call; hang-up, malformed frames, peers."""

import ipaddress
import threading
import time
import uuid

import httpx

from monitor.ingest.audiosocket import ERR_PROTOCOL, KIND_ERROR
from tests.serve_clients import audiosocket_frame, audiosocket_stream, load_8k, read_events, real_time, serving

AUDIO = load_8k("telephone_8k")
CLIP = AUDIO[:, : 8000 * 16]                       # the loud customer segment starts at 13 s
BASE = "3f2a7c1e-0d4b-4c55-9a1e-5b7d2e8c9a1"       # + the direction digit


def test_two_directions_make_one_call_with_both_speakers(tmp_path):
    with serving(tmp_path, audiosocket_port=0) as service:
        port = service.audiosocket_port
        pace, ready = real_time(speed=5.0), threading.Barrier(2)
        threads = [threading.Thread(target=audiosocket_stream, args=(port, BASE + digit, CLIP[channel]),
                                    kwargs={"pace": pace, "ready": ready})
                   for digit, channel in (("0", 1), ("1", 0))]        # customer, operator
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        events = read_events(tmp_path / "calls" / f"{BASE}0.jsonl")
    start, summary = events[0], events[-1]
    assert start["speakers"] == ["operator", "customer"]
    assert summary["complete"] is True and summary["frames_dropped"] == 0
    # no timestamps in AudioSocket: the streams are aligned as they arrive (at 5x, 1 s of
    # audio is 0.2 s of scheduling slack between the two senders)
    assert -0.05 < summary["duration"] - CLIP.shape[1] / 8000 < 1.0
    assert [e["speaker"] for e in events if e["type"] == "raised_voice"] == ["customer"]
    assert summary["speakers"]["operator"]["speech_s"] > 5


def test_a_malformed_frame_is_answered_with_an_error_and_ends_the_call(tmp_path):
    import socket

    with serving(tmp_path, audiosocket_port=0) as service:
        with socket.create_connection(("127.0.0.1", service.audiosocket_port), timeout=10) as sock:
            sock.sendall(audiosocket_frame(0x01, uuid.UUID(BASE + "9").bytes))      # a mixed call
            sock.sendall(audiosocket_frame(0x10, AUDIO[0, :16000].astype("<i2").tobytes()[:3200]))
            sock.sendall(audiosocket_frame(0x10, b"\x01\x02\x03"))                 # half a sample
            back = sock.recv(16)
        events = read_events(tmp_path / "calls" / f"{BASE}9.jsonl")
    assert back == bytes([KIND_ERROR, 0, 1, ERR_PROTOCOL])
    end = [e for e in events if e["type"] == "call_end"][0]
    assert "whole 16-bit samples" in end["error"] and abs(end["duration"] - 0.2) < 0.05
    assert events[0]["speakers"] == ["call"]


def test_a_stream_must_start_with_its_uuid(tmp_path):
    import socket

    with serving(tmp_path, audiosocket_port=0) as service:
        with socket.create_connection(("127.0.0.1", service.audiosocket_port), timeout=10) as sock:
            sock.sendall(audiosocket_frame(0x10, b"\x00\x00" * 160))
            assert sock.recv(16) == bytes([KIND_ERROR, 0, 1, ERR_PROTOCOL])
    assert not list((tmp_path / "calls").glob("*.jsonl"))


def test_peers_not_allowed_are_closed_unread(tmp_path):
    peers = (ipaddress.ip_network("10.9.9.9/32"),)
    with serving(tmp_path, audiosocket_port=0, audiosocket_peers=peers) as service:
        try:
            back = audiosocket_stream(service.audiosocket_port, BASE + "0", AUDIO[1, :1600])
        except (ConnectionResetError, BrokenPipeError):
            back = b""      # closed before the client had sent everything: closed unread too
        assert back == b""
        deadline = time.monotonic() + 10
        while service.audiosocket.refused_peers < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert service.audiosocket.refused_peers == 1
        r = httpx.post(f"http://127.0.0.1:{service.port}/ingest/audiosocket/calls",
                       json={"call": BASE + "0", "operator": "olga"})
        assert r.status_code == 403
    assert not list((tmp_path / "calls").glob("*.jsonl"))


def test_an_announced_call_goes_to_its_operators_screen(tmp_path):
    said = []
    with serving(tmp_path, audiosocket_port=0, say=said.append) as service:
        r = httpx.post(f"http://127.0.0.1:{service.port}/ingest/audiosocket/calls",
                       json={"call": BASE + "1", "operator": "olga"})
        assert r.status_code == 200
        audiosocket_stream(service.audiosocket_port, BASE + "0", AUDIO[1, :8000])
        read_events(tmp_path / "calls" / f"{BASE}0.jsonl")
        assert service.desks.desk("olga", create=False) is not None
    assert any("operator olga" in line for line in said)
