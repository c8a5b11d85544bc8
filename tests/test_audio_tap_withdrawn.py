"""Flag clips and withdrawn triggers (issue 12): an insult heard in a partial
transcript that the final transcript withdrew is no reason to send the
customer's audio to the hub."""

from __future__ import annotations

import numpy as np

from monitor.event_bus import EventBus
from monitor.hub.audio_tap import AudioTap


class FakePublisher:
    listening = False

    def __init__(self) -> None:
        self.clips: list[tuple[float, float, str]] = []

    def send_clip(self, t_start, t_end, reason, rate, pcm) -> None:
        self.clips.append((t_start, t_end, reason))

    def send_audio(self, pcm) -> None:  # pragma: no cover - nobody listens here
        raise AssertionError("no live audio without a listener")


class Frontend:
    t = 0.0


def play(tap: AudioTap, seconds: float, frontend: Frontend) -> None:
    block = np.zeros((2, 1600), np.int16)          # 100 ms of both channels
    for _ in range(int(seconds * 10)):
        frontend.t += 0.1
        tap.process(block, frontend)


def run(withdraw: str | None) -> list[tuple[float, float, str]]:
    publisher = FakePublisher()
    tap = AudioTap(publisher, clip_pad_s=2.0)
    bus = EventBus("c")
    bus.subscribe(tap)
    front = Frontend()
    play(tap, 3.0, front)
    bus.emit("trigger", 1.0, "customer", category="abuse", id="abuse.insult", text="idiot", span=[0, 5],
             partial=True, t_detected=3.0)
    bus.emit("trigger", 1.0, "customer", category="legal_threat", id="legal_threat.sue", text="sue",
             span=[6, 9], partial=True, t_detected=3.0)
    play(tap, 1.0, front)
    for trigger_id in (withdraw or "").split(","):
        if trigger_id:
            bus.emit("trigger_withdrawn", 1.0, "customer", category=trigger_id.split(".")[0], id=trigger_id,
                     t_detected=4.0)
    play(tap, 4.0, front)
    tap.finish(front)
    return publisher.clips


def test_a_clip_keeps_only_the_reasons_the_final_confirmed():
    assert [c[2] for c in run(None)] == ["abuse,legal_threat"]
    assert [c[2] for c in run("abuse.insult")] == ["legal_threat"]


def test_a_clip_with_every_reason_withdrawn_is_not_sent():
    assert run("abuse.insult,legal_threat.sue") == []
