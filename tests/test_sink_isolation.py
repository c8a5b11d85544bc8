"""Nothing a sink does may change what another sink sees (issue 9, item 1).

The hub's privacy redaction once took the operator's raised-voice figures out of
the summary by mutating a shallow copy, and the console that printed the same
summary afterwards crashed with ``KeyError: 'raised_voice_count'``.
"""

import copy
import json
import pickle

import pytest

from monitor.event_bus import EventBus
from monitor.frozen import FrozenDict, FrozenList, freeze, thaw
from monitor.hub.privacy import PrivacyFilter

pytestmark = pytest.mark.timeout(30)


def summary_fields():
    return {"duration": 60.0,
            "speakers": {"operator": {"speech_s": 20.0, "raised_voice_count": 2, "raised_voice_s": 4.0},
                         "customer": {"speech_s": 25.0, "raised_voice_count": 1, "raised_voice_s": 3.0}},
            "coach": {"escalation_timeline": [{"t": 0.0, "level": "calm"}],
                      "prompts": {"shown": 1, "log": [{"t": 5.0, "kind": "plan", "title": "y"}]}}}


def test_a_sink_that_tries_to_mutate_changes_nothing_for_the_next_sink():
    bus = EventBus("c1")
    refused, seen = [], []

    def vandal(event):
        attempts = [
            lambda: event["speakers"]["operator"].pop("raised_voice_count"),
            lambda: event["speakers"].__setitem__("operator", {}),
            lambda: event["coach"]["prompts"]["log"].append({"t": 1}),
            lambda: event["coach"]["prompts"]["log"][0].update(title="changed"),
            lambda: event["coach"]["escalation_timeline"].clear(),
            lambda: event.data.__setitem__("duration", 0.0),
            lambda: event["coach"].setdefault("incident", {}),
        ]
        for attempt in attempts:
            with pytest.raises(TypeError, match="read-only"):
                attempt()
            refused.append(True)

    bus.subscribe(vandal)
    bus.subscribe(lambda e: seen.append(e.to_dict()))
    bus.emit("summary", 60.0, **summary_fields())
    assert len(refused) == 7
    (got,) = seen
    expected = summary_fields()
    assert got["speakers"] == expected["speakers"] and got["coach"] == expected["coach"]
    assert got["duration"] == 60.0


def test_to_dict_is_a_private_copy_and_the_callers_fields_are_not_shared():
    bus = EventBus("c1")
    events = []
    bus.subscribe(events.append)
    fields = summary_fields()
    bus.emit("summary", 60.0, **fields)
    (event,) = events
    mine = event.to_dict()
    mine["speakers"]["operator"].clear()
    mine["coach"]["prompts"]["log"].append("x")
    fields["speakers"]["customer"]["speech_s"] = -1.0     # the caller keeps changing its own dict
    again = event.to_dict()
    assert again["speakers"]["operator"]["raised_voice_count"] == 2
    assert again["coach"]["prompts"]["log"] == [{"t": 5.0, "kind": "plan", "title": "y"}]
    assert again["speakers"]["customer"]["speech_s"] == 25.0


def test_the_hub_redaction_leaves_the_summary_the_console_prints_alone():
    """The blocker, at its root: the pipeline returns the summary fields it emitted."""
    bus = EventBus("c1")
    redacted = []
    privacy = PrivacyFilter(share_operator_cues=False)
    bus.subscribe(lambda e: redacted.append(privacy(e)))
    fields = summary_fields()
    bus.emit("summary", 60.0, **fields)
    assert "raised_voice_count" not in redacted[0]["speakers"]["operator"]
    assert fields["speakers"]["operator"]["raised_voice_count"] == 2      # what the console prints
    assert fields == summary_fields()


def test_frozen_data_still_reads_compares_serialises_and_copies_like_plain_data():
    data = freeze({"a": [1, {"b": 2}], "c": (3, 4)})
    assert isinstance(data, dict) and isinstance(data["a"], list)
    assert data == {"a": [1, {"b": 2}], "c": [3, 4]}
    assert json.loads(json.dumps(data)) == {"a": [1, {"b": 2}], "c": [3, 4]}
    assert pickle.loads(pickle.dumps(data)) == data
    plain = copy.deepcopy(data)
    plain["a"].append(5)                      # a deep copy is the caller's own, mutable
    assert data["a"] == [1, {"b": 2}]
    assert type(thaw(data)) is dict and type(thaw(data)["a"]) is list
    with pytest.raises(TypeError):
        data["a"] += [9]
    assert isinstance(data, FrozenDict) and isinstance(data["a"], FrozenList)
