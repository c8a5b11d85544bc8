"""The hub store reads each published event once, with the codec of
monitor.events, and indexes it by class; the database keeps the event exactly
as it was sent (the JSON on the wire and on disk does not change)."""

import json
import time

import pytest

from monitor.hub.store import Store
from monitor.hub.validate import Refused


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "hub.db")
    s.ensure_call("c1", "olga", time.time())
    return s


def body(store, seq):
    return store.query("SELECT body FROM events WHERE call_id = 'c1' AND seq = ?", (seq,))[0][0]


def test_each_event_is_stored_as_sent_and_indexed_by_its_class(store):
    # more digits than the codec writes, an unknown newer field, keys in an odd order
    sent = {"text": "I will take you to court", "type": "utterance", "v": 1, "call_id": "c1", "seq": 0,
            "t": 1.234567, "wall": 1.5, "speaker": "customer", "t_end": 3.000001, "language": "en",
            "avg_logprob": -0.3, "no_speech_prob": 0.02, "x_newer": {"k": [1, 2]}}
    assert store.add_event("c1", sent, time.time())
    assert body(store, 0) == json.dumps(sent, ensure_ascii=False)
    assert store.events("c1") == [sent]
    row = store.query("SELECT speaker, t, t_end, text, language FROM utterances WHERE call_id = 'c1'")[0]
    assert tuple(row) == ("customer", 1.234567, 3.000001, "I will take you to court", "en")
    state = {"v": 1, "type": "state", "call_id": "c1", "seq": 1, "t": 4.0, "wall": 4.0, "level": "escalated",
             "previous": "tense"}
    prompt = {"v": 1, "type": "prompt", "call_id": "c1", "seq": 2, "t": 4.1, "wall": 4.1, "speaker": "operator",
              "id": "p@4.1", "kind": "plan", "priority": 70, "title": "Offer the formal route", "body": "b",
              "why": {}, "ttl": 15}
    ack = {"v": 1, "type": "prompt_ack", "call_id": "c1", "seq": 3, "t": 5.0, "wall": 5.0,
           "prompt_id": "p@4.1", "action": "used"}
    end = {"v": 1, "type": "call_end", "call_id": "c1", "seq": 4, "t": 9.0, "wall": 9.0, "duration": 9}
    for e in (state, prompt, ack, end):
        assert store.add_event("c1", e, time.time())
    call = store.call("c1")
    assert (call["state"], call["peak_state"], call["flagged"], json.loads(call["flags"])) == \
        ("escalated", "escalated", 1, ["escalated"])
    assert call["ended_at"] is not None and call["duration"] == 9.0
    assert tuple(store.query("SELECT kind, title, ack FROM prompts")[0]) == ("plan", "Offer the formal route", "used")
    # after call_end: an ack of a known prompt and the summary still belong; another event does not
    late_ack = dict(ack, seq=5, action="dismissed")
    assert store.add_event("c1", late_ack, time.time())
    with pytest.raises(Refused) as no:
        store.add_event("c1", dict(state, seq=6), time.time())
    assert no.value.reason == "call_ended"


def test_an_event_the_codec_cannot_read_is_refused_not_stored(store):
    # "extra" is where the codec keeps unknown fields: no event may set it
    odd = {"v": 1, "type": "silence", "call_id": "c1", "seq": 0, "t": 1.0, "wall": 1.0, "t_detected": 6.0,
           "extra": {"a": 1}}
    with pytest.raises(Refused) as no:
        store.add_event("c1", odd, time.time())
    assert no.value.reason == "bad_event"
    assert store.max_seq("c1") == -1
