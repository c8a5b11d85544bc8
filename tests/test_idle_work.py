"""Idle work of a live call gives way: a partial when someone's pause nears its
speculation, a speculation when its speaker talks again."""

import numpy as np

from audio.endpointing import Endpointer, EndpointParams
from audio.frames import FRAME_SAMPLES
from audio.vad import VadParams
from monitor.asr.idle_work import IdleChooser


def fed(pattern: str, speaker: str = "customer") -> Endpointer:
    """An endpointer fed one 20 ms frame per character ('x' voiced, '.' not)."""
    ep = Endpointer(speaker, EndpointParams(), VadParams())
    pcm = np.full(len(pattern) * FRAME_SAMPLES, 1000, np.int16)
    ep.feed(pcm, [c == "x" for c in pattern], 0)
    return ep


def test_the_endpointer_says_how_long_the_open_utterance_has_been_silent():
    ep = fed("." * 10 + "x" * 50 + "." * 12)
    assert ep.speech_start == 10 * 0.02
    assert ep.silence_ms == 12 * 20
    assert fed("." * 10).silence_ms == 0.0 and fed("." * 10).speech_start is None


def test_a_partial_gives_way_once_a_pause_nears_the_speculation():
    talking = fed("." * 5 + "x" * 300)
    pausing = fed("." * 5 + "x" * 300 + "." * 10, "operator")      # 200 ms of silence
    chooser = IdleChooser([talking, pausing], 300, 4.0, 1.0)
    assert chooser.final_may_be_due()
    assert not IdleChooser([talking, fed("." * 5 + "x" * 300 + "." * 9, "operator")],
                           300, 4.0, 1.0).final_may_be_due()                   # 180 ms: not yet


def test_a_speculation_gives_way_when_its_speaker_talks_again_but_not_after_the_end():
    ep = fed("." * 5 + "x" * 100 + "." * 16)          # 320 ms of silence: speculation due
    chooser = IdleChooser([ep], 300, 4.0, 1.0)
    u = chooser.speculation_due()
    assert u is not None and not chooser.resumed(u)
    ep.feed(np.full(3 * FRAME_SAMPLES, 1000, np.int16), [True] * 3, 121)    # talks again
    assert chooser.resumed(u)
    ended = fed("." * 5 + "x" * 100 + "." * 40)       # the utterance closed: its final waits
    chooser = IdleChooser([ended], 300, 4.0, 1.0)
    assert not chooser.resumed(u)


def test_partials_are_for_the_customer_unless_the_operator_s_are_asked_for():
    # both have talked 2 s without a pause: past partial_after_s (1.5 s)
    operator, customer = fed("." * 5 + "x" * 100, "operator"), fed("." * 5 + "x" * 100)
    chooser = IdleChooser([operator, customer], 200, 1.5, 1.0)
    assert chooser.partial_due().speaker == "customer"
    assert chooser.partial_due() is None              # the customer's next one: 1 s of audio later
    only_operator = IdleChooser([fed("." * 5 + "x" * 100, "operator")], 200, 1.5, 1.0)
    assert only_operator.partial_due() is None
    asked = IdleChooser([fed("." * 5 + "x" * 100, "operator")], 200, 1.5, 1.0, operator_partials=True)
    assert asked.partial_due().speaker == "operator"


def test_a_partial_given_up_is_tried_again_as_soon_as_the_speaker_talks_on():
    customer = fed("." * 5 + "x" * 100)
    chooser = IdleChooser([customer], 200, 1.5, 1.0)
    assert chooser.partial_due() is not None
    assert chooser.partial_due() is None              # the next: 1 s of audio later ...
    state = chooser.partials["customer"]
    chooser.given_up("customer", state)               # ... unless this one came to nothing
    assert chooser.partial_due() is not None
    stale = chooser.partials["customer"]
    chooser.reset("customer")                         # its utterance ended meanwhile
    chooser.given_up("customer", stale)               # the new utterance's state is untouched
    assert chooser.partials["customer"].heard_s == 0.0 and chooser.partials["customer"] is not stale
