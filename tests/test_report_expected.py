"""The HTML call report of a small hand-made call equals a stored page in content.

``tests/golden/report_small.html`` is the page the report rendered for
:func:`small_call` before ``monitor/`` was remodelled (issue 11): the same
elements, attributes, text and SVG coordinates must come out today.  The
comparison is on content, not bytes: both pages are parsed and compared as a
stream of tags, attributes and text, with runs of whitespace folded and
whitespace between tags ignored (so ``&quot;`` and ``&#34;`` are the same, and
a template may put elements on their own lines).

The call has a bit of everything the page shows: two loudness lanes (one with a
gap in its baseline), raised voice, an overlap still open at the end, silence and
a monologue, state changes, triggers of every group (one without an utterance,
one heard only in a partial), prompts used, dismissed, unanswered and after the
call, and a summary with transcription figures, the five steps and an incident.

Regenerate (only when a change of the page is intended, and say so in the
commit): ``.venv/bin/python tests/test_report_expected.py --regen``.
"""

from __future__ import annotations

import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:          # run as a script (--regen)
    sys.path.insert(0, str(ROOT))

from monitor.events import event_from_dict, make_event  # noqa: E402
from monitor.report.html import render_report  # noqa: E402

EXPECTED = ROOT / "tests" / "golden" / "report_small.html"
NASTY = "<script>alert('x')</script> & \"quotes\""


def ev(type: str, t: float, speaker: str | None = None, seq: int | None = None,
       **data: Any) -> dict[str, Any]:
    return make_event(type, call_id="small-1", seq=int(t * 100) if seq is None else seq, t=t,
                      wall=0.0, speaker=speaker, **data).to_dict()


def levels() -> list[dict[str, Any]]:
    out = []
    for i in range(40):
        t = i * 1.0
        for n, spk in enumerate(("operator", "customer")):
            loud = -28.0 - n * 4 - (i % 5) + (14.0 if spk == "customer" and 18 <= i <= 22 else 0.0)
            base = None if spk == "operator" and 10 <= i < 14 else -32.0 - n * 3
            out.append(ev("level", t, spk, seq=10_000 + 2 * i + n, dbfs=loud, short_term_dbfs=loud,
                          baseline_dbfs=base))
    return out


def small_call() -> list[dict[str, Any]]:
    utt = lambda t, spk, text: ev("utterance", t, spk, t_end=t + 2.5, text=text,  # noqa: E731
                                  language="en", avg_logprob=-0.2, no_speech_prob=0.01)
    trig = lambda t, spk, cat, tid, text, span, **kw: ev(  # noqa: E731
        "trigger", t, spk, category=cat, id=tid, text=text, span=span, **kw)
    prompt = lambda t, pid, kind, title, why: ev(  # noqa: E731
        "prompt", t, "operator", id=pid, prompt=pid.split("@")[0], kind=kind, priority=70,
        title=title, body=f"body of {title}", why=why, ttl=15.0)
    said = f"I typed {NASTY} and nothing happens"
    at = said.index("nothing happens")
    summary = {
        "speakers": {"operator": {"speech_s": 14.5, "raised_voice_count": 0, "overlaps_started": 0,
                                  "monologues": 1, "words": 30},
                     "customer": {"speech_s": 18.25, "raised_voice_count": 1, "raised_voice_s": 4.0,
                                  "overlaps_started": 1, "monologues": 0, "words": 41}},
        "overlaps": 1, "overlap_s": 2.0, "silences": 1, "silence_s": 6.0, "complete": True,
        "note": f"a note with {NASTY}",
        "transcription": {"utterances": 6, "lag_s": {"p50": 0.42, "p95": 1.1},
                          "skipped": {"backlog": 1}, "real_time_factor": 0.125, "model": "base"},
        "coach": {
            "steps": {"listen": True, "empathy": True, "apology": False, "plan": True, "confirm": False},
            "harmful_phrases": {"calm_down": 1},
            "prompts": {"shown": 4, "suppressed": {"cooldown": 2}},
            "peak_state": "escalated", "final_state": "tense",
            "incident": {"peak_state": "escalated",
                         "what_happened": [f"4.0s customer manager_request {NASTY}"],
                         "what_was_done": [], "outcome": "call ended tense"},
        },
    }
    return [
        ev("call_start", 0.0, source=f"calls/{NASTY}.flac", sample_rate=16000, channels=2,
           speakers=["operator", "customer"]),
        *levels(),
        utt(1.0, "operator", "I am so sorry to hear that, calm down please."),
        trig(1.0, "operator", "empathy", "empathy.sorry", "so sorry", [5, 13]),
        trig(1.0, "operator", "calm_down", "calm_down.plain", "calm down", [28, 37]),
        trig(1.0, "operator", "deflect", "deflect.x", "not in the words", None, partial=True),
        utt(4.0, "customer", "I want to speak to your manager right now."),
        trig(4.0, "customer", "manager_request", "manager_request.want",
             "want to speak to your manager", [2, 31]),
        ev("state", 5.0, level="tense", previous="calm", reason="manager_request", score=2.0),
        ev("overlap", 8.0, "customer", other="operator", t_detected=8.5),
        ev("overlap_end", 8.0, "customer", other="operator", t_end=10.0),
        utt(10.0, "customer", said),
        trig(10.0, "customer", "repeat_contact", "repeat_contact.no_change", "nothing happens",
             [at, at + 15]),
        ev("silence", 12.0, t_detected=15.0),
        ev("silence_end", 12.0, t_end=18.0),
        ev("raised_voice", 18.0, "customer", t_detected=18.8, db_over_baseline=9.5),
        ev("raised_voice_end", 18.0, "customer", t_end=22.0, db_over_baseline=11.2),
        ev("state", 19.0, level="escalated", previous="tense", reason="customer_raised_voice"),
        prompt(6.0, "plan.manager@6.00", "plan", "Own the escalation", {"cue": "manager_request",
               "quote": "want to speak to your manager", "speaker": "customer"}),
        prompt(9.0, "listen.overlap@9.00", "listen", f"Let them finish {NASTY}", {"cue": "overlap"}),
        prompt(19.5, "breathe.hold@19.50", "breathe", "Hold and breathe",
               {"cue": "customer_raised_voice", "db_over_baseline": 9.5}),
        ev("prompt_ack", 7.0, "operator", prompt_id="plan.manager@6.00", action="used"),
        ev("prompt_ack", 10.5, "operator", prompt_id="listen.overlap@9.00", action="dismissed"),
        utt(24.0, "operator", "Here is what I will do: I will call you back on Friday."),
        trig(24.0, "operator", "plan", "plan.call_back", "I will call you back", [25, 45]),
        ev("monologue", 24.0, "operator", t_detected=30.0),
        ev("monologue_end", 24.0, "operator", t_end=33.0),
        trig(30.0, "customer", "legal_threat", "legal_threat.sue", f"lawyer {NASTY}", [0, 6]),
        ev("state", 34.0, level="tense", previous="escalated", reason="decay"),
        ev("raised_voice", 36.0, "operator", t_detected=36.5, db_over_baseline=7.0),
        ev("utterance_partial", 37.0, "operator", t_end=38.0, text="partial words never shown",
           language="en"),
        ev("call_end", 40.0, duration=40.0),
        ev("summary", 40.0, duration=40.0, **summary),
        prompt(40.0, "technique.after@40.00", "technique", "After the call",
               {"cue": "after_escalation"}),
    ]


class _Tokens(HTMLParser):
    """A page as (kind, ...) tokens: tags with sorted attributes, and text with
    whitespace folded; whitespace-only text between tags is left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[tuple[Any, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.out.append(("<", tag, tuple(sorted((k, v or "") for k, v in attrs))))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.out.append(("/", tag))

    def handle_endtag(self, tag: str) -> None:
        self.out.append(("/", tag))

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not text:
            return
        if data[:1].isspace():
            text = " " + text
        if data[-1:].isspace():
            text += " "
        if self.out and self.out[-1][0] == "text":
            text = self.out.pop()[1] + text
        self.out.append(("text", text))

    def handle_decl(self, decl: str) -> None:
        self.out.append(("!", decl.lower()))


def tokens(page: str) -> list[tuple[Any, ...]]:
    parser = _Tokens()
    parser.feed(page)
    parser.close()
    return parser.out


def test_small_call_renders_the_stored_page() -> None:
    got = tokens(render_report(small_call()))
    want = tokens(EXPECTED.read_text(encoding="utf-8"))
    for i, (a, b) in enumerate(zip(got, want)):
        assert a == b, f"token {i}: got {a!r}, stored {b!r}"
    assert len(got) == len(want)


def test_the_comparison_sees_a_changed_coordinate_or_word() -> None:
    page = EXPECTED.read_text(encoding="utf-8")
    assert tokens(page) == tokens(page.replace("><", ">\n  <"))      # layout only
    assert tokens(page) != tokens(page.replace(">escalated<", ">escalatd<", 1))
    first_rect = page.index('<rect x="')
    moved = page[:first_rect] + page[first_rect:].replace('x="', 'x="1', 1)
    assert tokens(page) != tokens(moved)


def test_event_objects_give_the_same_page_as_their_json() -> None:
    objects = [event_from_dict(e) for e in small_call()]
    assert render_report(objects) == render_report(small_call())
    assert render_report(iter(objects)) == render_report(objects)      # read once


def test_the_report_imports_neither_the_coach_nor_jinja_until_it_renders() -> None:
    """Constants come from monitor.vocabulary; Jinja2 (70 ms) only for a page."""
    code = ("import sys, monitor.report.html as r; "
            "print(sorted(m for m in sys.modules if m.startswith(('monitor.coach', 'jinja2')))); "
            "r.render_report([]); print('jinja2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "True"]


if __name__ == "__main__" and sys.argv[1:] == ["--regen"]:
    EXPECTED.write_text(render_report(small_call()), encoding="utf-8")
    print(f"wrote {EXPECTED.relative_to(ROOT)} ({EXPECTED.stat().st_size} bytes)")
