"""The coach: escalation state, prompt policy, and the coach on event streams."""

import pytest

from monitor.coaching.coach import Coach, CoachParams
from monitor.coaching.escalation import EscalationParams, EscalationState
from monitor.event_bus import EventBus
from monitor.coaching.prompt_policy import PolicyParams, PromptPolicy


# --- escalation state -----------------------------------------------------------
def test_state_rises_with_signals_and_decays_back_down():
    s = EscalationState(EscalationParams())
    assert s.signal(10.0, "customer_raised_voice") == "tense"
    assert s.signal(12.0, "manager_request") == "escalated"
    assert s.tick(30.0) is None                      # still hot 18 s later
    changes = [s.tick(t) for t in range(31, 400)]
    assert [c for c in changes if c] == ["tense", "calm"]
    assert s.peak == "escalated"


def test_abuse_holds_the_call_at_abusive_then_releases():
    s = EscalationState(EscalationParams(abusive_hold_s=60))
    assert s.signal(5.0, "abuse") == "abusive"
    assert s.tick(64.0) is None
    assert s.tick(66.0) in ("escalated", "tense")
    assert s.peak == "abusive"


def test_shouting_alone_makes_a_call_tense_not_escalated():
    s = EscalationState(EscalationParams())
    for t in (0.0, 5.0, 10.0, 15.0):
        s.signal(t, "customer_raised_voice")
    assert s.score >= 4.0 and s.level == "tense"
    assert s.signal(16.0, "sustained_raised_voice") == "escalated"


def test_helpful_operator_moves_bring_the_score_down():
    s = EscalationState(EscalationParams())
    s.signal(0.0, "customer_raised_voice")
    s.signal(0.0, "repeat_contact")
    before = s.score
    s.signal(0.0, "empathy")
    assert s.score == pytest.approx(before - 1.0)


def test_hysteresis_keeps_a_level_near_its_threshold():
    s = EscalationState(EscalationParams(tense_at=2.0, escalated_at=5.0, half_life_s=1000))
    s.signal(0.0, "legal_threat")                    # 4.0: tense
    assert s.level == "tense"
    s.signal(1.0, "empathy")
    s.signal(1.0, "plan")                            # 2.0 -> still tense
    s.signal(1.0, "paraphrase")                      # 1.0 < 0.7 * 2: calm
    assert s.level == "calm"


# --- prompt policy ----------------------------------------------------------------
def test_cooldown_per_kind():
    p = PromptPolicy(PolicyParams(cooldown_s=20, ttl_s=1))
    assert p.offer(0, "plan.a", "plan")[0]
    assert p.offer(10, "plan.b", "plan") == (False, "cooldown")
    assert p.offer(21, "plan.b", "plan")[0]


def test_duplicates_are_not_shown_again():
    p = PromptPolicy(PolicyParams(cooldown_s=0, dedupe_s=120, ttl_s=1))
    assert p.offer(0, "listen.overlap", "listen")[0]
    assert p.offer(60, "listen.overlap", "listen") == (False, "duplicate")
    assert p.offer(121, "listen.overlap", "listen")[0]


def test_global_rate_limit():
    p = PromptPolicy(PolicyParams(cooldown_s=0, per_minute=3, ttl_s=1))
    kinds = ["plan", "listen", "technique", "empathy"]
    results = [p.offer(i * 5, f"{k}.x", k)[0] for i, k in enumerate(kinds)]
    assert results == [True, True, True, False]
    assert p.suppressed == {"rate_limit": 1}
    assert p.offer(61, "empathy.y", "empathy")[0]


def test_one_on_screen_higher_priority_replaces_lower():
    p = PromptPolicy(PolicyParams(cooldown_s=0, ttl_s=15))
    assert p.offer(0, "technique.x", "technique")[0]
    assert p.offer(2, "empathy.x", "empathy") == (False, "outranked")
    assert p.offer(3, "boundary.x", "boundary") == (True, "replaces technique.x")
    p.ack("boundary.x", "boundary", "used")          # acknowledged: off the screen
    assert p.offer(4, "empathy.y", "empathy")[0]


def test_override_rate_per_kind():
    p = PromptPolicy(PolicyParams())
    p.ack("a", "plan", "used")
    p.ack("b", "plan", "dismissed")
    p.ack("c", "plan", "dismissed")
    p.ack("d", "listen", "used")
    assert p.override_rate() == {"listen": 0.0, "plan": 0.667}


# --- the coach on synthetic event streams ------------------------------------------
class Call:
    def __init__(self, **params):
        self.bus = EventBus("test")
        self.events = []
        self.bus.subscribe(self.events.append)
        self.coach = Coach(self.bus, CoachParams(**params))
        self.bus.subscribe(self.coach)

    def say(self, speaker, t, text, t_end=None, language="en"):
        self.bus.emit("utterance", t, speaker, t_end=t_end or t + 2, text=text, language=language,
                      avg_logprob=-0.2, no_speech_prob=0.01)

    def of(self, kind):
        return [e for e in self.events if e.type == kind]


def test_an_insult_gives_a_boundary_prompt_and_an_abusive_state():
    call = Call()
    call.say("customer", 3.0, "you are a useless idiot")
    assert [e["category"] for e in call.of("trigger")] == ["abuse"]
    assert call.of("state")[-1]["level"] == "abusive"
    (prompt,) = call.of("prompt")
    assert prompt["kind"] == "boundary"
    assert prompt["why"]["quote"] and prompt["why"]["speaker"] == "customer"
    assert len(prompt["title"].split()) <= 6 and len(prompt["body"].split()) <= 25


def test_operator_talking_over_the_customer_gives_a_listen_prompt():
    call = Call()
    call.bus.emit("overlap", 10.0, "operator", other="customer", t_detected=10.5)
    assert [e["kind"] for e in call.of("prompt")] == ["listen"]


def test_operator_raised_voice_gives_a_private_breathe_prompt_with_a_pacer():
    call = Call()
    call.bus.emit("raised_voice", 10.0, "operator", t_detected=10.3, db_over_baseline=9.0)
    (prompt,) = call.of("prompt")
    assert prompt["kind"] == "breathe" and prompt["private"] is True
    assert prompt["pacer"] == {"inhale_s": 4, "exhale_s": 6, "cycles": 3}
    assert prompt["why"]["db_over_baseline"] == 9.0


def test_a_voice_raised_by_effort_alone_is_not_quoted_as_decibels_over_the_usual():
    # under telephone gain control the level can sit under the usual while the voice strains
    call = Call()
    call.bus.emit("raised_voice", 10.0, "operator", t_detected=10.4, db_over_baseline=-2.5,
                  effort=2.1, by="effort")
    (prompt,) = call.of("prompt")
    assert prompt["why"]["by"] == "effort" and "db_over_baseline" not in prompt["why"]
    loud = Call()
    loud.bus.emit("raised_voice", 10.0, "operator", t_detected=10.3, db_over_baseline=8.0,
                  effort=1.0, by="level+effort")
    (prompt,) = loud.of("prompt")
    assert prompt["why"]["db_over_baseline"] == 8.0 and "by" not in prompt["why"]


def test_harmful_operator_phrase_gets_a_technique_nudge_in_the_call_language():
    call = Call()
    call.say("customer", 1.0, "я жду уже две недели", language="ru")
    call.say("operator", 4.0, "успокойтесь пожалуйста", language="ru")
    assert [e["category"] for e in call.of("trigger")] == ["calm_down"]
    (prompt,) = call.of("prompt")
    assert prompt["kind"] == "technique" and prompt["language"] == "ru"


def test_a_trigger_found_in_a_partial_is_not_repeated_by_the_final():
    call = Call()
    call.bus.emit("utterance_partial", 5.0, "customer", t_end=9.0, text="I want to speak to your manager",
                  language="en")
    call.say("customer", 5.0, "I want to speak to your manager right now", t_end=10.0)
    assert len(call.of("trigger")) == 1 and call.of("trigger")[0]["partial"] is True


def test_acknowledgements_feed_the_override_rate_and_summary_lists_the_steps():
    call = Call()
    call.say("customer", 1.0, "I will take you to court")
    (prompt,) = call.of("prompt")
    call.bus.emit("prompt_ack", 5.0, "operator", prompt_id=prompt["id"], action="dismissed")
    call.say("operator", 6.0, "I understand how frustrating this is")
    call.say("operator", 9.0, "I will call you back by five today")
    summary = call.coach.summary()
    assert summary["prompts"]["dismissed"] == 1
    assert summary["prompts"]["override_rate"] == {"plan": 1.0}
    assert summary["steps"]["empathy"] and summary["steps"]["plan"]
    assert not summary["steps"]["apology"]
    assert summary["peak_state"] == "escalated"          # a legal threat pushes the matter
    assert "incident" in summary


def test_a_calm_exchange_gives_no_prompts():
    call = Call()
    call.say("operator", 0.0, "Good morning, how can I help you today?")
    call.say("customer", 3.0, "Hi, I would like to change my delivery address")
    call.say("operator", 6.0, "Of course, let me update that for you")
    for t in range(0, 60):
        call.bus.emit("level", float(t), "customer", dbfs=-30.0, short_term_dbfs=-30.0,
                      baseline_dbfs=-30.0, speaking=False)
    assert call.of("prompt") == [] and call.coach.summary()["peak_state"] == "calm"


def test_a_breathe_prompt_holds_the_screen_for_its_whole_pacer():
    p = PromptPolicy(PolicyParams(cooldown_s=0, ttl_s=15))
    assert p.offer(0, "breathe.hold", "breathe", ttl=30)[0]
    assert p.offer(20, "listen.overlap", "listen") == (False, "outranked")
    assert p.offer(31, "listen.overlap", "listen")[0]


def test_dismissing_a_prompt_frees_the_screen_for_the_next_one():
    call = Call()
    call.say("customer", 1.0, "I want to speak to your manager")
    (first,) = call.of("prompt")
    call.bus.emit("prompt_ack", 4.0, "operator", prompt_id=first["id"], action="dismissed")
    call.bus.emit("prompt_ack", 4.1, "operator", prompt_id=first["id"], action="used")   # ignored
    call.say("operator", 6.0, "calm down please")           # a lower-priority nudge: the screen is free
    assert [e["kind"] for e in call.of("prompt")] == ["plan", "technique"]
    assert call.coach.summary()["prompts"]["dismissed"] == 1
    assert call.coach.summary()["prompts"]["used"] == 0


# --- the trigger patterns are compiled on first words, once per process ---------------------------
def test_no_words_compile_no_patterns_and_calls_share_one_matcher(tmp_path, monkeypatch):
    from monitor.coaching import triggers
    from monitor.coaching.playbook import bundled_dir

    # a playbook of its own, so no other test has compiled its matcher already
    (tmp_path / "en.toml").write_bytes((bundled_dir() / "en.toml").read_bytes())
    built = []

    class Counting(triggers.TriggerMatcher):
        def __init__(self, playbook):
            built.append(playbook.path)
            super().__init__(playbook)

    monkeypatch.setattr(triggers, "TriggerMatcher", Counting)
    call = Call(playbook_dir=str(tmp_path))
    call.bus.emit("raised_voice", 10.0, "customer", t_detected=10.3, db_over_baseline=9.0)
    call.bus.emit("overlap", 12.0, "operator", other="customer", t_detected=12.5)
    for t in range(13, 40):
        call.bus.emit("level", float(t), "customer", dbfs=-30.0, short_term_dbfs=-30.0,
                      baseline_dbfs=-30.0, speaking=False)
    call.coach.finish(type("Frontend", (), {"t": 40.0})())
    assert built == []                       # a call without words compiles nothing
    assert call.of("prompt")                 # ... and still coaches on the acoustic cues

    call.say("customer", 41.0, "I will take you to court")
    assert built == [tmp_path / "en.toml"]
    second = Call(playbook_dir=str(tmp_path))
    second.say("customer", 1.0, "get me your supervisor")
    assert built == [tmp_path / "en.toml"]   # the next call of the process reuses it
    assert [e["category"] for e in second.of("trigger")] == ["manager_request"]
