"""The call as one self-contained HTML page: timeline, transcript, summary, coaching.

:func:`render_report` takes the call's events (:class:`~monitor.events.Event`
objects, or decoded JSON objects: what ``--events`` writes, what the hub stores)
and returns one HTML document with inline CSS and an inline SVG timeline.
Nothing is fetched: no scripts, fonts, images or style sheets from anywhere, so
the file can be mailed, archived or served by the hub as it is, and opened
offline.

The page is rendered from the Jinja2 templates in ``templates/`` (autoescaped:
every piece of text from the events, transcripts above all, is escaped) with the
style sheet ``templates/report.css`` inlined.  The events are read once into a
:class:`~monitor.report.call_view.CallView`; this module turns it into what the
templates print, and :mod:`monitor.report.timeline` draws the SVG.

The page is built from the events alone: a call without a ``summary`` event (cut
short) still gets a timeline and a transcript, and a missing or odd field leaves
a part out rather than failing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

from markupsafe import Markup

from monitor.errors import CalmlineError
from monitor.report import look
from monitor.report.call_view import CallView, Mark, given, locate
from monitor.report.look import dict_words, pct, secs, text
from monitor.report.timeline import render_timeline
from monitor.vocabulary import OPERATOR_HARMFUL

TEMPLATES = Path(__file__).resolve().parent / "templates"

#: the five de-escalation steps the coach credits, as the page names them
STEPS = (
    ("listen", "Listen: let the customer finish (no talking over them)"),
    ("empathy", "Empathy: acknowledge how they feel"),
    ("apology", "Apology"),
    ("plan", "Plan: say what you will do"),
    ("confirm", "Confirm: recap, or say when they will hear back"),
)
#: the legend's trigger groups, in its order
LEGEND_GROUPS = (("heat", "customer heat"), ("harmful", "harmful phrase"),
                 ("helpful", "helpful move"), ("other", "other"))


def render_report(events: Iterable[Any]) -> str:
    """One self-contained HTML page for the call whose events these are.

    ``events`` are the call's events in stream order (an iterator is read once):
    :class:`~monitor.events.Event` objects, or decoded event objects
    (``Event.to_dict()``, or the lines of an ``--events`` file parsed with
    ``json.loads``).  Returns the whole document as a string (UTF-8 when written).
    """
    call = CallView(events)
    return _environment().get_template("report.html.j2").render(
        call=call,
        title=f"Call {call.call_id}" if call.call_id else "Call report",
        peak=call.peak_state(),
        final=call.coach.get("final_state"),
        css=_css(),
        timeline=render_timeline(call),
        transcript=transcript_rows(call),
        summary=summary_part(call),
        coaching=coaching_part(call),
        incident=incident_part(call),
        legend_groups=LEGEND_GROUPS,
    )


@lru_cache(maxsize=1)
def _environment() -> Any:
    """The templates' environment (Jinja2 is imported on the first report only)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
        lstrip_blocks=True, undefined=jinja2.StrictUndefined,
        finalize=lambda value: "" if value is None else value)
    env.filters.update(mmss=look.fmt_time, secs=look.secs, pct=look.pct, css=look.css_name,
                       group=look.group, words=look.dict_words)
    env.globals.update(state_colours=look.state_colours, STATE_STYLE=look.STATE_STYLE,
                       GROUP_COLOUR=look.GROUP_COLOUR)
    return env


@lru_cache(maxsize=1)
def _css() -> Any:
    return Markup((TEMPLATES / "report.css").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- transcript

@dataclass(frozen=True, slots=True)
class Piece:
    """A stretch of an utterance's words: plain, or marked as one or more triggers."""

    text: str
    categories: tuple[str, ...] = ()
    title: str = ""

    @property
    def group(self) -> str:
        return look.group(self.categories[0])


def highlight(words: str, marks: list[Mark]) -> list[Piece]:
    """``words`` cut into pieces, the triggers' words marked (overlapping ones merged)."""
    found = []
    for mark in marks:
        where = locate(words, mark)
        if where:
            found.append((where[0], where[1], mark))
    found.sort(key=lambda r: (r[0], -r[1]))
    merged: list[list[Any]] = []
    for s, e, mark in found:
        if merged and s < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
            merged[-1][2].append(mark)
        else:
            merged.append([s, e, [mark]])
    out, pos = [], 0
    for s, e, marks_here in merged:
        out.append(Piece(words[pos:s]))
        out.append(Piece(words[s:e], tuple(dict.fromkeys(m.category for m in marks_here)),
                         "; ".join(f"{m.category} ({m.id})" if m.id else m.category
                                   for m in marks_here)))
        pos = e
    out.append(Piece(words[pos:]))
    return [p for p in out if p.text or p.categories]


@dataclass(frozen=True, slots=True)
class Row:
    """A transcript row: an utterance (``pieces``, ``notes``) or a trigger without one."""

    t: float
    seq: float
    speaker: str
    pieces: list[Piece] | None = None
    notes: list[Mark] = field(default_factory=list)
    orphan: Mark | None = None


def transcript_rows(call: CallView) -> list[Row]:
    rows = [Row(u.t, u.seq, u.speaker or "", pieces=highlight(u.text, u.marks), notes=u.notes)
            for u in call.utterances]
    rows += [Row(m.t, m.seq, m.speaker or "", orphan=m) for m in call.orphans]
    rows.sort(key=lambda r: (r.t, r.seq))
    return rows


# --------------------------------------------------------------------------- summary

def summary_part(call: CallView) -> dict[str, Any] | None:
    """What the Summary section prints, from the summary event (None: there is none)."""
    s = call.summary
    if s is None:
        return None
    speakers = s.speakers if isinstance(s.speakers, Mapping) else {}
    tr = s.extra.get("transcription")
    tr = tr if isinstance(tr, Mapping) and tr else None
    return {
        "speakers": [(name, row) for name, row in speakers.items() if isinstance(row, Mapping)],
        "words": tr is not None,
        "duration": s.duration,
        "overlaps": (given(s.overlaps, 0), given(s.overlap_s, 0)),
        "silences": (given(s.silences, 0), given(s.silence_s, 0)),
        "counters": [(key.replace("_", " "), s.extra[key])
                     for key in ("frames_dropped", "input_overflows", "input_gaps") if s.extra.get(key)],
        "incomplete": not given(s.complete, True),
        "transcription": transcription_items(tr) if tr is not None else None,
        "note": given(s.note, None) or None,
    }


def transcription_items(tr: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The transcription stage's figures as (label, text), whatever they are."""
    items = []
    for key, value in tr.items():
        label = key.replace("_", " ")
        if key == "lag_s" and isinstance(value, Mapping):
            items.append(("lag", ", ".join(f"{k} {secs(v)}" for k, v in value.items())))
        elif isinstance(value, Mapping):
            items.append((label, dict_words(value)))
        elif isinstance(value, float):
            items.append((label, f"{value:.2f}"))
        elif not isinstance(value, (list, tuple)):
            items.append((label, text(value)))
    return items


# --------------------------------------------------------------------------- coaching

def coaching_part(call: CallView) -> dict[str, Any] | None:
    """What the Coaching section prints, from the coach's summary and the prompts."""
    c = call.coach
    if not c:
        return None
    steps = c.get("steps") if isinstance(c.get("steps"), Mapping) else {}
    harmful = c.get("harmful_phrases") if isinstance(c.get("harmful_phrases"), Mapping) else {}
    return {
        "checklist": [(bool(steps[key]), label) for key, label in STEPS if key in steps],
        "harmful": harmful,
        "said": [m for m in call.triggers
                 if m.speaker == "operator" and m.category in OPERATOR_HARMFUL],
        "prompts": prompt_figures(call),
        "rows": [(p, call.prompt_status(p), because(p.why)) for p in call.prompts],
    }


def because(why: Mapping[str, Any]) -> str:
    """A prompt's reason in a few words: the cue, the quoted words, the speaker."""
    out = str(why.get("cue", ""))
    if why.get("quote"):
        out += f" \u201c{why['quote']}\u201d"
    if why.get("speaker"):
        out += f" ({why['speaker']})"
    return out


def prompt_figures(call: CallView) -> list[tuple[str, Any]]:
    """Shown, used, dismissed ... from the prompt events themselves when there are
    any (acknowledgements may follow the summary), else from the coach's summary."""
    pr = call.coach.get("prompts") if isinstance(call.coach.get("prompts"), Mapping) else {}
    after = pr.get("after_call") if isinstance(pr.get("after_call"), list) else []
    if call.prompts:
        during = [p for p in call.prompts if not p.after_call]
        status = [call.prompt_status(p) for p in during]
        by_kind: dict[str, int] = {}
        acked: dict[str, list[int]] = {}
        for p, st in zip(during, status):
            by_kind[p.kind] = by_kind.get(p.kind, 0) + 1
            if st in ("used", "dismissed"):
                acked.setdefault(p.kind, [0, 0])[st == "dismissed"] += 1
        shown = f"{len(during)} ({dict_words(dict(sorted(by_kind.items())))})"
        used, dismissed = status.count("used"), status.count("dismissed")
        no_response: Any = status.count("no response")
        rates: Mapping[str, Any] = {k: v[1] / (v[0] + v[1]) for k, v in sorted(acked.items())}
        after = [p.prompt or p.id for p in call.prompts if p.after_call]
    else:
        shown = f"{text(pr.get('shown', 0))} ({dict_words(pr.get('by_kind'))})"
        used, dismissed = pr.get("used", 0), pr.get("dismissed", 0)
        no_response = "-"
        rates = pr.get("override_rate") if isinstance(pr.get("override_rate"), Mapping) else {}
    rate = (", ".join(f"{k} {pct(v)}" for k, v in rates.items())
            if rates else "no prompt was acknowledged")
    return [
        ("shown", shown),
        ("used", used),
        ("dismissed", dismissed),
        ("no response", no_response),
        ("suppressed (held back by the prompt policy)", dict_words(pr.get("suppressed"))),
        ("override rate (dismissed / acknowledged)", rate),
        ("after the call", ", ".join(map(str, after)) if after else "none"),
    ]


def incident_part(call: CallView) -> dict[str, Any] | None:
    """The incident record of a heated call, when the coach made one."""
    inc = call.coach.get("incident")
    if not isinstance(inc, Mapping):
        return None

    def listed(key: str) -> list[Any] | None:
        values = inc.get(key)
        return values if isinstance(values, list) and values else None

    peak = inc.get("peak_state")
    return {"peak": str(peak) if peak else None,
            "what_happened": listed("what_happened"), "what_was_done": listed("what_was_done"),
            "outcome": inc.get("outcome") or "not recorded"}


# --------------------------------------------------------------------------- files

def check_report_path(path: str | Path, option: str = "--report") -> Path:
    """Fail early (before a long replay) when the report could not be written."""
    path = Path(path)
    if path.is_dir():
        raise CalmlineError(f"{option} {path}: is a directory")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CalmlineError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise CalmlineError(f"{option} {path}: cannot write (permission denied)")
    return path


def write_report(path: str | Path, events: Iterable[Any], option: str = "--report") -> Path:
    """Render the report and write it to ``path`` (UTF-8); CalmlineError if it cannot."""
    path = check_report_path(path, option)
    page = render_report(events)
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise CalmlineError(f"{option} {path}: cannot write ({exc.strerror or exc})") from None
    return path
