import pytest

from audio.frontend import FrontEndParams
from audio.turns import TurnParams
from tests.signals import of, run, track


def test_operator_talking_over_the_customer_is_an_overlap():
    customer = track(("gap", 1.0), ("voice", 5.0, -30), ("gap", 2.0))
    operator = track(("gap", 3.0), ("voice", 2.0, -30), ("gap", 3.0))
    facts = run([operator, customer])
    ov = of(facts, "overlap")
    assert len(ov) == 1
    assert ov[0].speaker == "operator" and ov[0].data["other"] == "customer"
    assert ov[0].t == pytest.approx(3.0, abs=0.06)
    assert ov[0].data["t_detected"] == pytest.approx(3.5, abs=0.1)
    end = of(facts, "overlap_end")[0]
    assert end.data["t_end"] == pytest.approx(5.0, abs=0.06)


def test_a_short_acknowledgement_is_not_an_overlap():
    customer = track(("gap", 1.0), ("voice", 5.0, -30), ("gap", 1.0))
    operator = track(("gap", 3.0), ("voice", 0.3, -30), ("gap", 3.7))
    assert of(run([operator, customer]), "overlap") == []


def test_quick_turn_taking_is_not_an_overlap():
    customer = track(("gap", 1.0), ("voice", 3.0, -30), ("gap", 3.0))
    operator = track(("gap", 4.1), ("voice", 2.0, -30), ("gap", 0.9))
    assert of(run([operator, customer]), "overlap") == []


def test_five_seconds_of_silence_is_a_silence_but_two_is_not():
    op = track(("voice", 2.0, -30), ("gap", 2.0), ("voice", 2.0, -30), ("gap", 6.0), ("voice", 2.0, -30))
    cu = track(("gap", 14.0))
    facts = run([op, cu])
    sil = of(facts, "silence")
    assert len(sil) == 1
    assert sil[0].t == pytest.approx(6.0, abs=0.06)
    assert sil[0].data["t_detected"] == pytest.approx(11.0, abs=0.06)
    end = of(facts, "silence_end")[0]
    assert end.data["t_end"] == pytest.approx(12.0, abs=0.08)


def test_silence_threshold_is_configurable():
    op = track(("voice", 2.0, -30), ("gap", 3.0), ("voice", 2.0, -30))
    params = FrontEndParams(turns=TurnParams(silence_min_s=2.5))
    assert len(of(run([op, track(("gap", 7.0))], params=params), "silence")) == 1


def test_monologue_without_acknowledgement():
    params = FrontEndParams(turns=TurnParams(monologue_min_s=10.0))
    long_turn = [("voice", 3.0, -30), ("gap", 0.8)] * 4   # 15.2 s with short pauses
    cu = track(*long_turn)
    op = track(("gap", 15.2))
    facts = run([op, cu], params=params)
    mono = of(facts, "monologue")
    assert len(mono) == 1 and mono[0].speaker == "customer" and mono[0].t == pytest.approx(0.0, abs=0.06)


def test_an_acknowledgement_resets_the_monologue():
    params = FrontEndParams(turns=TurnParams(monologue_min_s=10.0))
    cu = track(*[("voice", 3.0, -30), ("gap", 0.8)] * 4)
    op = track(("gap", 6.0), ("voice", 0.4, -30), ("gap", 8.8))   # "mm-hm" at 6 s
    assert of(run([op, cu], params=params), "monologue") == []


def test_mono_calls_have_no_overlap_or_monologue_but_do_have_silence():
    x = track(("voice", 2.0, -30), ("gap", 6.0), ("voice", 50.0, -30))
    facts = run([x])
    assert of(facts, "overlap") == [] and of(facts, "monologue") == []
    assert len(of(facts, "silence")) == 1
