"""The coach while it still matters (issue 12): triggers from stable partial
transcripts (confirmed or withdrawn by the final), long calls without alert
fatigue, safety prompts past the rate limit, and the after-call card's time."""

from __future__ import annotations

import json
from collections import Counter

from monitor.coaching.escalation import EscalationParams, EscalationState
from monitor.coaching.prompt_policy import PolicyParams, PromptPolicy
from monitor.events import TriggerWithdrawn, event_from_dict
from monitor.report.call_view import CallView
from tests.test_coach import Call as CoachedCall


class Call(CoachedCall):
    """A coached synthetic call (``tests/test_coach.py``) that can also hear partials."""

    def partial(self, speaker, t, t_end, text, language="en"):
        self.bus.emit("utterance_partial", t, speaker, t_end=t_end, text=text, language=language)

    def level(self, t, speaker="customer"):
        self.bus.emit("level", t, speaker, dbfs=-30.0, short_term_dbfs=-30.0, baseline_dbfs=-30.0,
                      speaking=True)

    def of(self, kind):
        return [e for e in self.events if e.type == kind]

    def end(self, t):
        self.coach.finish(type("Frontend", (), {"t": t})())


# --- triggers from partial transcripts ----------------------------------------------------
def test_a_manager_demand_in_a_partial_prompts_before_the_customer_finishes_and_the_final_confirms():
    call = Call()
    call.partial("customer", 10.0, 14.2, "I have been waiting for weeks and I want to speak to your manager")
    (trigger,) = call.of("trigger")
    (prompt,) = call.of("prompt")
    assert trigger["partial"] is True and trigger["category"] == "manager_request"
    assert prompt["kind"] == "plan" and prompt.t == 14.2          # while the turn goes on
    call.say("customer", 10.0, "I have been waiting for weeks and I want to speak to your manager "
             "today, not tomorrow", t_end=18.0)
    assert len(call.of("trigger")) == 1 and len(call.of("prompt")) == 1   # confirmed, not repeated
    assert call.of("trigger_withdrawn") == []
    summary = call.coach.summary()
    assert summary["triggers"] == 1 and summary["prompts"]["shown"] == 1
    assert "triggers_withdrawn" not in summary


def test_another_phrasing_of_the_same_demand_in_the_final_confirms_the_partial():
    call = Call()
    call.partial("customer", 3.0, 8.0, "this is useless, put me through to your supervisor")
    first = call.of("trigger")[0]
    call.say("customer", 3.0, "this is useless, I want to speak to your supervisor now", t_end=10.0)
    assert [e["id"] for e in call.of("trigger")] == [first["id"]]
    assert call.of("trigger_withdrawn") == [] and len(call.of("prompt")) == 1


def test_a_trigger_the_final_contradicts_is_withdrawn_with_its_prompt_and_state():
    call = Call()
    call.partial("customer", 20.0, 25.0, "honestly you idiot")
    assert call.of("state")[-1]["level"] == "abusive"
    (prompt,) = call.of("prompt")
    assert prompt["kind"] == "boundary"
    call.say("customer", 20.0, "honestly you did it, thank you so much", t_end=27.0)
    (withdrawn,) = call.of("trigger_withdrawn")
    assert isinstance(withdrawn, TriggerWithdrawn)
    assert (withdrawn.t, withdrawn.speaker, withdrawn["id"]) == (20.0, "customer", "abuse.insult")
    assert withdrawn["prompt"] == prompt["id"] and withdrawn["t_detected"] == 27.0
    back = call.of("state")[-1]
    assert (back["level"], back["previous"], back["reason"]) == ("calm", "abusive", "withdrawn")
    summary = call.coach.summary()
    assert summary["triggers"] == 0 and summary["triggers_withdrawn"] == 1
    assert summary["prompts"]["shown"] == 0 and summary["prompts"]["withdrawn"] == 1
    assert summary["peak_state"] == "calm" and "incident" not in summary
    assert summary["escalation_timeline"] == [{"t": 0.0, "level": "calm"}]   # as if never said
    call.end(40.0)
    assert call.of("prompt")[-1]["id"] == prompt["id"]      # no after-call nudge for a calm call
    # the screen's card can be taken back: the policy freed the screen and the boundary kind
    assert call.coach.policy.current is None and call.coach.policy.times_shown("boundary.abuse") == 0
    # ... and a real insult later still gets its boundary prompt at once
    call.say("customer", 30.0, "you useless idiot", t_end=32.0)
    assert call.of("prompt")[-1]["kind"] == "boundary"


def test_the_report_leaves_out_what_the_final_withdrew():
    call = Call()
    call.partial("customer", 20.0, 25.0, "honestly you idiot")
    call.say("customer", 20.0, "honestly you did it, thank you so much", t_end=27.0)
    lines = [json.loads(e.to_json()) for e in call.events]
    view = CallView(lines)
    assert view.triggers == [] and view.prompts == []


def test_a_final_merged_from_two_turns_settles_the_partial_of_the_second():
    call = Call()
    call.partial("customer", 12.0, 17.0, "and now I will take you to court")
    call.say("customer", 6.0, "you never call back and now I will take you to court", t_end=19.0)
    assert [e["category"] for e in call.of("trigger")] == ["legal_threat"]    # one, from the partial
    assert call.of("trigger_withdrawn") == []


def test_a_partial_whose_final_never_came_stays_raised():
    call = Call()
    call.partial("customer", 5.0, 10.0, "I want to cancel my contract")
    call.say("customer", 30.0, "hello, are you still there", t_end=32.0)   # a later turn's final
    assert [e["category"] for e in call.of("trigger")] == ["churn_threat"]
    assert call.of("trigger_withdrawn") == []
    assert call.coach.summary()["triggers"] == 1


def test_trigger_withdrawn_is_a_schema_v1_event_that_round_trips():
    call = Call()
    call.partial("customer", 20.0, 25.0, "you idiot")
    call.say("customer", 20.0, "you did it", t_end=27.0)
    (e,) = call.of("trigger_withdrawn")
    line = e.to_json()
    assert json.loads(line)["v"] == 1
    assert event_from_dict(json.loads(line)).to_json() == line


def test_retracting_a_signal_recomputes_level_and_peak_as_if_it_never_came():
    s = EscalationState(EscalationParams())
    s.signal(10.0, "customer_raised_voice")              # tense
    s.signal(12.0, "abuse")                              # abusive
    assert s.level == "abusive" and s.peak == "abusive"
    assert s.retract(14.0, "abuse", 12.0) == "tense"
    assert s.peak == "tense" and s.score < 2.0
    assert s.retract(14.0, "abuse", 12.0) is None       # once only


def test_a_withdrawn_prompt_gives_back_its_cooldown_and_rate():
    p = PromptPolicy(PolicyParams(cooldown_s=20, per_minute=3, ttl_s=15))
    assert p.offer(0.0, "plan.manager", "plan", instance="a")[0]
    assert p.withdraw("a") and not p.withdraw("a")
    assert p.current is None and p.shown == {} and p.withdrawn == {"plan": 1}
    assert p.offer(1.0, "plan.manager", "plan", instance="b")[0]    # no cooldown, no duplicate


# --- long calls without alert fatigue -----------------------------------------------------------
def twenty_minute_escalated_call() -> Call:
    """A synthetic 20-minute escalated call: every two minutes the customer shouts for
    12 s, then demands a manager, threatens to sue or repeats a complaint, shouts again
    twice, and the operator talks over them once; the operator never names the
    feeling.  Before this change the coach showed 32 prompts on it: "Name the feeling
    first" ten times and "Hold, breathe out, return" every two minutes."""
    call = Call()
    demands = ["I want to speak to your manager", "I will take you to court over this",
               "Nothing ever changes with you people"]
    open_spans: list[tuple[float, float]] = []
    call.say("customer", 0.0, "This is the third time I am calling about this", t_end=3.0)
    for sec in range(20 * 60):
        t, c = float(sec), sec % 120
        if c in (5, 60, 90):
            call.bus.emit("raised_voice", t, "customer", t_detected=t + 0.5, db_over_baseline=9.0)
            open_spans.append((t, t + (12.0 if c == 5 else 10.0)))
        if c == 25:
            call.say("customer", t, demands[(sec // 120) % 3], t_end=t + 3)
        if c == 40:
            call.bus.emit("overlap", t, "operator", other="customer", t_detected=t + 0.4)
        if c == 50:
            call.say("operator", t, "Let me look at the account again", t_end=t + 2)
        for start, end in [s for s in open_spans if s[1] <= t]:
            call.bus.emit("raised_voice_end", start, "customer", t_end=end, db_over_baseline=9.0)
            open_spans.remove((start, end))
        call.level(t, "customer")
        call.level(t, "operator")
    call.end(1200.0)
    return call


def test_a_twenty_minute_escalated_call_gives_each_advice_at_most_twice_then_the_next_rung():
    call = twenty_minute_escalated_call()
    during = [e for e in call.of("prompt") if e["why"]["cue"] != "after_escalation"]
    per_advice = Counter(e["prompt"] for e in during)
    assert max(per_advice.values()) <= 2, per_advice
    assert per_advice["empathy.acknowledge"] <= 2 and per_advice["breathe.hold"] <= 2
    assert len(during) <= 20                                   # was 32
    breathe = [e.t for e in during if e["kind"] == "breathe"]
    assert len(breathe) <= 4 and max(breathe) < 600            # not every two minutes all call long
    # the card says why a prompt recurs
    again = [e for e in during if "repeat" in e["why"]]
    assert again and all(e["why"]["repeat"]["times"] == 2 and e["why"]["repeat"]["last_t"] < e.t
                         for e in again)
    # once the advice for a cue is spent, the next rung: a supervisor's help, then a call-back
    rungs = [e for e in during if e["prompt"] in ("plan.offer_supervisor", "plan.offer_callback")]
    assert [e["prompt"] for e in rungs][:1] == ["plan.offer_supervisor"]
    assert "plan.offer_callback" in {e["prompt"] for e in rungs}
    assert all(e["why"]["next_rung"]["title"] and e["why"]["next_rung"]["times"] == 2 for e in rungs)
    assert call.coach.summary()["prompts"]["suppressed"].get("spent", 0) > 0


def test_a_boundary_and_a_breathe_prompt_get_past_a_spent_rate_limit():
    """The customer repeats a complaint, demands a manager, threatens to sue and then
    insults the operator, all within ten seconds, while the operator talks over them:
    three prompts have used the minute's allowance before the insult."""
    call = Call()
    call.say("customer", 0.0, "this is the third time I am calling", t_end=2.0)
    call.say("customer", 2.5, "I want to speak to your manager", t_end=4.0)
    call.bus.emit("overlap", 5.0, "operator", other="customer", t_detected=5.3)
    call.say("customer", 6.0, "I will sue you", t_end=7.0)
    assert len(call.of("prompt")) == 3
    call.say("customer", 8.0, "you useless idiot", t_end=9.5)
    assert call.of("prompt")[-1]["kind"] == "boundary"
    for t in range(10, 60):
        call.level(float(t))
    kinds = [e["kind"] for e in call.of("prompt")]
    assert "breathe" in kinds                       # the call is abusive: hold and breathe
    shown = len(call.of("prompt"))
    call.say("operator", 40.0, "please calm down", t_end=41.0)   # advice is still held to the limit
    assert len(call.of("prompt")) == shown
    assert call.coach.summary()["prompts"]["suppressed"]["rate_limit"] == 1


def test_the_after_call_card_is_at_the_end_and_says_when_the_call_got_heated():
    call = Call()
    call.say("customer", 30.0, "I want to speak to your manager and I will sue you", t_end=34.0)
    heated = next(e.t for e in call.of("state") if e["level"] == "escalated")
    call.end(95.0)
    after = [e for e in call.of("prompt") if e["why"]["cue"] == "after_escalation"]
    assert after and all(e.t == 95.0 and e["why"]["since"] == heated for e in after)
