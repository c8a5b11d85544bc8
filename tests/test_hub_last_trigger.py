"""The dashboard's "last trigger" column (issue 12): the customer's most serious
trigger, not whatever phrase came last (an operator's "I understand" used to
replace a legal threat there), and never one the final transcript withdrew."""

from __future__ import annotations

import time

from monitor.hub.store import Store


def events(call_id: str):
    seq = iter(range(100))

    def ev(type_: str, t: float, speaker: str | None = None, **data):
        e = {"v": 1, "type": type_, "call_id": call_id, "seq": next(seq), "t": t, "wall": t, **data}
        if speaker:
            e["speaker"] = speaker
        return e
    return ev


def trig(ev, t, speaker, category, text, id_=None):
    return ev("trigger", t, speaker, category=category, id=id_ or f"{category}.x", text=text,
              span=[0, len(text)])


def last(store: Store, call_id: str) -> str | None:
    return next(c for c in store.calls(all_calls=True) if c["id"] == call_id)["last_trigger"]


def test_last_trigger_is_the_customers_most_serious_not_the_operators_last_phrase(tmp_path):
    store = Store(tmp_path / "hub.db")
    store.ensure_call("c1", "olga", time.time())
    ev = events("c1")
    store.add_event("c1", ev("call_start", 0.0, source="x", sample_rate=16000, channels=2,
                             speakers=["operator", "customer"]), time.time())
    store.add_event("c1", trig(ev, 3.0, "customer", "repeat_contact", "third time"), time.time())
    assert last(store, "c1") == "repeat_contact: third time"
    store.add_event("c1", trig(ev, 9.0, "customer", "legal_threat", "take you to court"), time.time())
    store.add_event("c1", trig(ev, 12.0, "operator", "empathy", "I understand"), time.time())
    store.add_event("c1", trig(ev, 15.0, "customer", "manager_request", "your manager"), time.time())
    assert last(store, "c1") == "legal_threat: take you to court"
    store.add_event("c1", trig(ev, 20.0, "customer", "abuse", "idiot", "abuse.insult"), time.time())
    assert last(store, "c1") == "abuse: idiot"
    # the final transcript withdrew the insult: back to the legal threat
    store.add_event("c1", ev("trigger_withdrawn", 20.0, "customer", category="abuse", id="abuse.insult",
                             text="idiot", t_detected=24.0), time.time())
    assert last(store, "c1") == "legal_threat: take you to court"


def test_a_call_with_only_operator_phrases_has_no_last_trigger(tmp_path):
    store = Store(tmp_path / "hub.db")
    store.ensure_call("c2", "olga", time.time())
    ev = events("c2")
    store.add_event("c2", trig(ev, 2.0, "operator", "empathy", "thank you for waiting"), time.time())
    store.add_event("c2", trig(ev, 4.0, "operator", "plan", "I will call you back"), time.time())
    assert last(store, "c2") is None
