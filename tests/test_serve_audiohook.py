"""calmline serve, Genesys AudioHook: a protocol-faithful client (open/opened with media
negotiation, ping/pong, pause/resume, close/closed, seq/clientseq checked on every
message) streams a fixture as PCMU stereo; a wrong key, a probe, malformed and
out-of-order messages."""

import json
import uuid

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from monitor.ingest.server import IngestKeys
from tests.serve_clients import AudioHookClient, load_8k, read_events, real_time, serving

AUDIO = load_8k("telephone_8k")
KEY = "calm-key-1"


def url(service):
    return f"ws://127.0.0.1:{service.port}/ingest/audiohook"


def test_a_whole_session_is_one_call_external_is_the_customer(tmp_path):
    conversation = str(uuid.uuid4())
    with serving(tmp_path, keys=IngestKeys(audiohook_api_key=KEY)) as service:
        with AudioHookClient(url(service), api_key=KEY) as client:
            opened = client.open(conversation, operator="olga")
            assert opened["type"] == "opened"
            assert opened["parameters"]["media"] == [
                {"type": "audio", "format": "PCMU", "channels": ["external", "internal"], "rate": 8000}]
            client.stream(AUDIO, pace=real_time(speed=20.0), ping_every_s=5.0)
            client.send("paused", {})
            client.send("resumed", {"start": f"PT{client.position:.2f}S", "discarded": "PT2.5S"})
            client.send("discarded", {"start": f"PT{client.position:.2f}S", "discarded": "PT0.2S"})
            sent = client.send("update", {"language": "en-GB"})
            updated = client.recv()
            assert updated["type"] == "updated" and updated["clientseq"] == sent["seq"]
            client.close()
        events = read_events(tmp_path / "calls" / f"{conversation}.jsonl")
    pongs = [m for m in client.received if m["type"] == "pong"]
    assert len(pongs) == 4
    start, summary = events[0], events[-1]
    assert start["speakers"] == ["customer", "operator"]           # external, internal
    assert summary["complete"] is True and summary["frames_dropped"] == 0
    assert abs(summary["duration"] - AUDIO.shape[1] / 8000) < 0.05
    assert [e["speaker"] for e in events if e["type"] == "raised_voice"] == ["customer"]


def test_a_wrong_or_missing_api_key_is_refused_before_the_upgrade(tmp_path):
    with serving(tmp_path, keys=IngestKeys(audiohook_api_key=KEY)) as service:
        for key in ("wrong", ""):
            with pytest.raises(InvalidStatus) as refused:
                with AudioHookClient(url(service), api_key=key):
                    pass
            assert refused.value.response.status_code == 401
    assert not list((tmp_path / "calls").glob("*.jsonl"))


def test_an_organization_that_does_not_match_its_header_is_unauthorized(tmp_path):
    with serving(tmp_path) as service:
        with AudioHookClient(url(service)) as client:
            client.organization, header_org = str(uuid.uuid4()), client.organization
            reply = client.open(str(uuid.uuid4()))
            assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "unauthorized"
            client.close("disconnect")
    assert header_org != client.organization
    assert not list((tmp_path / "calls").glob("*.jsonl"))


def test_a_connection_probe_is_answered_and_makes_no_call(tmp_path):
    with serving(tmp_path) as service:
        with AudioHookClient(url(service)) as client:
            assert client.open("00000000-0000-0000-0000-000000000000")["type"] == "opened"
            client.ping()
            client.close()
    assert not list((tmp_path / "calls").glob("*.jsonl"))


def test_media_negotiation_picks_one_offered_entry_or_says_none_fits(tmp_path):
    mono = {"type": "audio", "format": "PCMU", "channels": ["internal"], "rate": 8000}
    with serving(tmp_path) as service:
        with AudioHookClient(url(service)) as client:
            reply = client.open(str(uuid.uuid4()), media=[mono])
            assert reply["parameters"]["media"] == [mono]
            client.close()
        with AudioHookClient(url(service)) as client:
            reply = client.open(str(uuid.uuid4()), media=[
                {"type": "audio", "format": "opus", "channels": ["external"], "rate": 48000}])
            assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "error"
            client.close("disconnect")


@pytest.mark.parametrize("breakage, expect", [
    ("json", "not valid JSON"),
    ("seq", "invalid seq"),
    ("odd", "not whole samples"),
])
def test_a_protocol_error_is_a_disconnect_and_the_call_ends_with_it(tmp_path, breakage, expect):
    conversation = str(uuid.uuid4())
    with serving(tmp_path) as service:
        with AudioHookClient(url(service)) as client:
            client.open(conversation, media=[{"type": "audio", "format": "L16",
                                              "channels": ["external", "internal"], "rate": 8000}])
            client.stream(AUDIO[:, :8000 * 3], fmt="L16")
            if breakage == "json":
                client.seq += 1
                client.ws.send('{"version": "2", "type": "ping", ')
            elif breakage == "seq":
                client.seq += 5
                client.send("ping", {})
            else:
                client.ws.send(b"\x01\x02\x03")
            reply = client.recv()
            assert reply["type"] == "disconnect" and reply["parameters"]["reason"] == "error"
            assert expect in reply["parameters"]["info"]
            client.close("disconnect")
        events = read_events(tmp_path / "calls" / f"{conversation}.jsonl")
    end = [e for e in events if e["type"] == "call_end"][0]
    assert expect in end["error"] and end["duration"] > 2.9          # what came before is kept
    assert events[-1]["complete"] is False


def test_a_dropped_socket_ends_the_call_as_disconnected(tmp_path):
    conversation = str(uuid.uuid4())
    with serving(tmp_path) as service:
        client = AudioHookClient(url(service)).__enter__()
        client.open(conversation)
        client.stream(AUDIO[:, :8000 * 2])
        client.ws.socket.close()
        events = read_events(tmp_path / "calls" / f"{conversation}.jsonl")
    assert "disconnected mid-call" in [e for e in events if e["type"] == "call_end"][0]["error"]


def test_audio_before_open_is_refused(tmp_path):
    with serving(tmp_path) as service:
        with AudioHookClient(url(service)) as client:
            client.send("ping", {})
            client.recv()
            client.ws.send(b"\xff" * 320)
            reply = client.recv()
            assert reply["type"] == "disconnect" and "preparing" in reply["parameters"]["info"]
            client.close("disconnect")
            with pytest.raises(ConnectionClosed):
                for _ in range(3):
                    json.loads(client.ws.recv(timeout=5))
