"""calmline serve, Twilio Media Streams: fixtures streamed in Twilio's wire format by a
protocol-faithful client, paced and unpaced, two at once, broken off, malformed, unsigned."""

import threading

import pytest
from websockets.exceptions import InvalidStatus

from monitor.events import without_wall
from monitor.ingest.twilio import signature
from tests.serve_clients import load_8k, read_events, real_time, serving, twilio_messages, twilio_stream

SID = "CA" + "ab" * 16
AUDIO = load_8k("telephone_8k")           # 21 s, one loud customer segment


def url(service):
    return f"ws://127.0.0.1:{service.port}/ingest/twilio"


def by_type(events, kind):
    return [e for e in events if e["type"] == kind]


def test_an_unpaced_stream_is_one_call_with_nothing_lost(tmp_path):
    with serving(tmp_path) as service:
        closed = twilio_stream(url(service), twilio_messages(AUDIO, call_sid=SID, operator="olga"))
        events = read_events(tmp_path / "calls" / f"{SID}.jsonl")
    assert closed["code"] == 1000
    start, end, summary = events[0], by_type(events, "call_end")[0], events[-1]
    assert start["speakers"] == ["operator", "customer"] and start["input_rate"] == 8000
    assert "error" not in end and summary["complete"] is True
    assert abs(end["duration"] - AUDIO.shape[1] / 8000) < 0.05
    assert summary["frames_dropped"] == 0 and summary["stream"]["dropped_s"] == 0
    assert summary["stream"]["gaps_filled_s"] == 0 and summary["stream"]["padded_s"] == 0
    assert [e["speaker"] for e in by_type(events, "raised_voice")] == ["customer"]
    assert summary["speakers"]["operator"]["speech_s"] > 5 and summary["speakers"]["customer"]["speech_s"] > 5


def test_paced_and_unpaced_streams_give_the_same_events(tmp_path):
    clip = AUDIO[:, : 8000 * 8]
    with serving(tmp_path) as service:
        twilio_stream(url(service), twilio_messages(clip, call_sid="CA1"))
        twilio_stream(url(service), twilio_messages(clip, call_sid="CA2"), pace=real_time(speed=8.0))
        fast = read_events(tmp_path / "calls" / "CA1.jsonl")
        paced = read_events(tmp_path / "calls" / "CA2.jsonl")

    def comparable(events):
        out = []
        for e in events:
            d = without_wall(e)
            d.pop("call_id")
            if d["type"] == "call_start":
                d.pop("source")
            if d["type"] == "summary":
                d.pop("stream")
            out.append(d)
        return out

    assert comparable(fast) == comparable(paced)


def test_two_calls_at_once_each_get_their_own_events(tmp_path):
    clip = AUDIO[:, : 8000 * 17]          # the loud segment starts at 13 s
    with serving(tmp_path) as service:
        threads = [threading.Thread(target=twilio_stream, args=(url(service), twilio_messages(
            clip, call_sid=f"CA-{k}", operator=f"op{k}")), kwargs={"pace": real_time(speed=6.0)})
            for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        calls = [read_events(tmp_path / "calls" / f"CA-{k}.jsonl") for k in range(2)]
    for k, events in enumerate(calls):
        assert {e["call_id"] for e in events} == {f"CA-{k}"}
        assert events[-1]["complete"] is True and events[-1]["frames_dropped"] == 0
        assert by_type(events, "raised_voice")
    # the two calls ran side by side, not one after the other
    assert abs(calls[0][-1]["duration"] - calls[1][-1]["duration"]) < 0.05


def test_a_disconnect_mid_call_ends_the_call_cleanly_with_what_was_received(tmp_path):
    messages = list(twilio_messages(AUDIO, call_sid=SID))
    half = len(messages) // 2
    with serving(tmp_path) as service:
        twilio_stream(url(service), iter(messages), after=half)
        events = read_events(tmp_path / "calls" / f"{SID}.jsonl")
    end = by_type(events, "call_end")[0]
    assert "disconnected mid-call" in end["error"]
    assert events[-1]["type"] == "summary" and events[-1]["complete"] is False
    sent_s = (half - 2) / 2 * 0.02                 # two tracks, 20 ms each
    assert abs(end["duration"] - sent_s) < 0.1


def test_a_malformed_message_ends_the_stream_with_an_error_and_keeps_the_call(tmp_path):
    messages = list(twilio_messages(AUDIO[:, :8000 * 4], call_sid=SID, stop=False))
    messages.insert(200, (0.0, '{"event": "media", "media": {"track": "inbound", "payload": "%%%"'))
    with serving(tmp_path) as service:
        closed = twilio_stream(url(service), iter(messages))
        events = read_events(tmp_path / "calls" / f"{SID}.jsonl")
    assert closed["code"] == 1007 and "JSON" in closed["reason"]
    end = by_type(events, "call_end")[0]
    assert "not valid JSON" in end["error"] and end["duration"] > 1.5
    assert events[-1]["complete"] is False


@pytest.mark.parametrize("bad", [
    '{"event": "media", "sequenceNumber": "1", "streamSid": "MZx", "media": {}}',     # before start
    '{"event": "start", "sequenceNumber": "1", "start": {"callSid": "CA9", "streamSid": "MZ", '
    '"tracks": ["inbound"], "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": 16000}}}',
    '[1, 2, 3]',
])
def test_protocol_errors_close_the_stream_and_start_no_call(tmp_path, bad):
    with serving(tmp_path) as service:
        closed = twilio_stream(url(service), iter([(0.0, bad)]))
    assert closed["code"] in (1002, 1007)
    assert not list((tmp_path / "calls").glob("*.jsonl"))


def test_with_an_auth_token_only_streams_twilio_signed_are_taken(tmp_path):
    from monitor.ingest.server import IngestKeys

    with serving(tmp_path, keys=IngestKeys(twilio_auth_token="s3cret")) as service:
        with pytest.raises(InvalidStatus) as refused:
            twilio_stream(url(service), twilio_messages(AUDIO[:, :800], call_sid="CA-unsigned"))
        assert refused.value.response.status_code == 403
        forged = signature("not-the-token", f"wss://127.0.0.1:{service.port}/ingest/twilio")
        with pytest.raises(InvalidStatus):
            twilio_stream(url(service), twilio_messages(AUDIO[:, :800], call_sid="CA-forged"),
                          headers={"X-Twilio-Signature": forged})
        good = signature("s3cret", f"wss://127.0.0.1:{service.port}/ingest/twilio")
        twilio_stream(url(service), twilio_messages(AUDIO[:, :8000], call_sid="CA-signed"),
                      headers={"X-Twilio-Signature": good})
        assert read_events(tmp_path / "calls" / "CA-signed.jsonl")[-1]["complete"] is True
    assert not (tmp_path / "calls" / "CA-unsigned.jsonl").exists()


def test_a_web_page_cannot_feed_a_call(tmp_path):
    with serving(tmp_path) as service:
        with pytest.raises(InvalidStatus) as refused:
            twilio_stream(url(service), twilio_messages(AUDIO[:, :800], call_sid="CA-x"),
                          headers={"Origin": "http://evil.example"})
    assert refused.value.response.status_code == 403


def test_stopping_the_server_mid_call_keeps_everything_received(tmp_path):
    import time

    from websockets.sync.client import connect

    from tests.serve_clients import read_events as read

    messages = list(twilio_messages(AUDIO, call_sid=SID, stop=False))
    service = serving(tmp_path).start()
    try:
        with connect(url(service)) as ws:
            for _, text in messages[:500]:                 # ~5 s of both tracks
                ws.send(text)
            deadline = time.monotonic() + 10
            while sum(c.source.received for c in service.switchboard.active()) < 498 * 160:
                assert time.monotonic() < deadline, "the server did not read the stream"
                time.sleep(0.01)
            service.stop()                                # mid-call: the stream is still open
    finally:
        service.stop()
    events = read(tmp_path / "calls" / f"{SID}.jsonl")
    end = by_type(events, "call_end")[0]
    assert "stopped before the call ended" in end["error"]
    assert abs(end["duration"] - 249 * 0.02) < 0.1 and events[-1]["complete"] is False


class CountingEngine:
    """A stand-in model: counts its calls and the threads they ran on."""

    def __init__(self):
        self.calls = 0
        self.threads = set()

    def transcribe(self, samples, language, beam_size, fallback=None, cancel=None, abandon=None):
        from monitor.asr.engine import Transcript

        self.calls += 1
        self.threads.add(threading.current_thread().name)
        return Transcript(f"words {self.calls}", language or "en", 0.95, -0.3, 0.05, 1.2)


def test_calls_at_once_share_one_model(tmp_path):
    engine = CountingEngine()
    clip = AUDIO[:, : 8000 * 10]
    with serving(tmp_path, engine=engine) as service:
        threads = [threading.Thread(target=twilio_stream, args=(url(service), twilio_messages(
            clip, call_sid=f"CA-m{k}")), kwargs={"pace": real_time(speed=4.0)}) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        calls = [read_events(tmp_path / "calls" / f"CA-m{k}.jsonl") for k in range(2)]
    for events in calls:
        tr = events[-1]["transcription"]
        assert tr["mode"] == "live" and tr["errors"] == 0
        assert [e for e in events if e["type"] == "utterance"]
        assert isinstance(tr["too_old"], dict) and "skipped" in tr     # what it lost, per call
    # one model, called from one shared worker, never from a call's own thread
    assert engine.calls >= 4 and len(engine.threads) == 1
