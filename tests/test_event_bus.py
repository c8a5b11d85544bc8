import threading

import pytest

from monitor.event_bus import EventBus
from monitor.events import EventError, event_from_dict, make_event, read_jsonl, without_wall


def test_events_get_a_gap_free_sequence_and_wall_clock():
    ticks = iter([100.0, 100.0, 100.5, 101.25])
    bus = EventBus("c1", clock=lambda: next(ticks))
    seen = []
    bus.subscribe(seen.append)
    bus.emit("speech_start", 1.0, "operator", t_detected=1.06)
    bus.emit("silence", 2.0, t_detected=7.0)
    assert [(e.seq, e.wall) for e in seen] == [(0, 0.0), (1, 0.5)]


def test_a_sink_that_emits_is_delivered_after_the_current_event_to_every_sink():
    bus = EventBus("c1")
    first, second = [], []

    def coach(event):
        first.append(event.type)
        if event.type == "utterance":
            bus.emit("trigger", event.t, event.speaker, category="abuse", id="abuse.x",
                     text="idiot", span=[0, 5])

    bus.subscribe(coach)
    bus.subscribe(lambda e: second.append((e.seq, e.type)))
    bus.emit("utterance", 3.0, "customer", t_end=4.0, text="you idiot", language="en",
             avg_logprob=-0.2, no_speech_prob=0.01)
    assert first == ["utterance", "trigger"]
    assert second == [(0, "utterance"), (1, "trigger")]


def test_threads_share_one_sequence():
    bus = EventBus("c1")
    seen = []
    bus.subscribe(lambda e: seen.append(e.seq))

    def burst():
        for _ in range(500):
            bus.emit("silence", 0.0, t_detected=5.0)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == list(range(2000))


def test_schema_is_enforced_and_round_trips():
    with pytest.raises(EventError, match="lacks t_detected"):
        make_event("raised_voice", call_id="c", seq=0, t=1.0, wall=0.0, speaker="customer",
                   db_over_baseline=9.0)
    with pytest.raises(EventError, match="unknown event type"):
        make_event("shouting", call_id="c", seq=0, t=1.0, wall=0.0)
    e = make_event("overlap", call_id="c", seq=3, t=1.23456, wall=0.5, speaker="operator",
                   other="customer", t_detected=1.7)
    back = read_jsonl([e.to_json()])[0]
    assert back.type == "overlap" and back["other"] == "customer" and back.t == 1.2346
    assert "wall" not in without_wall(back)
    with pytest.raises(EventError, match="schema version"):
        event_from_dict({**e.to_dict(), "v": 99})
