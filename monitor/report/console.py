"""Console rendering of a call summary (Rich)."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

UNWRAPPED_WIDTH = 1000      # a pipe or a file: lines as long as they are


def make_console(stderr: bool = False) -> Console:
    """A Rich console for stdout (or stderr) that never breaks a line of text
    (soft wrap: a long line or link stays one line to copy).  Tables fit the
    terminal; into a pipe or a file they are not squeezed into 80 columns
    (unless ``COLUMNS`` says so), so grep and scripts see whole lines."""
    console = Console(stderr=stderr, soft_wrap=True)
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(stderr=stderr, width=UNWRAPPED_WIDTH, soft_wrap=True)


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def print_summary(summary: dict[str, Any], console: Console, title: str) -> None:
    table = Table(title=escape(title), title_justify="left", show_header=True, header_style="bold")
    table.add_column("speaker")
    table.add_column("speech", justify="right")
    table.add_column("raised voice", justify="right")
    table.add_column("talked over other", justify="right")
    tr = summary.get("transcription")
    if tr:
        table.add_column("words", justify="right")
    for name, s in summary["speakers"].items():
        raised = f"{s['raised_voice_s']:.1f} s ({s['raised_voice_count']}x)" if s["raised_voice_count"] else "-"
        row = [name, f"{s['speech_s']:.1f} s", raised, str(s["overlaps_started"])]
        if tr:
            row.append(str(s["words"]))
        table.add_row(*row)
    console.print(table)
    lines = [
        f"duration {_mmss(summary['duration'])} ({summary['duration']:.1f} s)",
        f"overlaps {summary['overlaps']} ({summary['overlap_s']:.1f} s)",
        f"long silences {summary['silences']} ({summary['silence_s']:.1f} s)",
    ]
    mono = sum(s["monologues"] for s in summary["speakers"].values())
    if mono:
        lines.append(f"monologues {mono}")
    for key, label in (("frames_dropped", "frames dropped"), ("input_overflows", "input overflows"),
                       ("input_gaps", "input gaps filled")):
        if summary.get(key):
            lines.append(f"{label} {summary[key]}")
    console.print(" · ".join(lines))
    if tr:
        parts = [f"transcription: {tr['utterances']} utterances",
                 f"real-time factor {tr['real_time_factor']:.2f}"]
        if "lag_s" in tr:
            parts.append(f"lag p50 {tr['lag_s']['p50']:.2f} s, p95 {tr['lag_s']['p95']:.2f} s")
        for key in ("merged", "skipped", "blips_dropped", "long_turns_split"):
            if tr.get(key):
                parts.append(f"{key.replace('_', ' ')} {tr[key]}")
        too_old = sum(tr.get("too_old", {}).values())
        if too_old:           # live: dropped rather than shown late
            parts.append(f"too late to show {too_old}")
        rejected = sum(tr.get("rejected", {}).values())
        if rejected:
            parts.append(f"rejected {rejected} ({', '.join(f'{k} {v}' for k, v in tr['rejected'].items())})")
        console.print(" · ".join(parts))
    coach = summary.get("coach")
    if coach:
        print_coaching(coach, console)
    hub = summary.get("hub")
    if hub:
        state = "all delivered" if not hub["pending"] else f"{hub['pending']} waiting in the spool (resent next time)"
        refused = f", {hub['refused']} refused by the hub" if hub.get("refused") else ""
        console.print(f"hub: {hub['acked']} events delivered, {state}{refused}", highlight=False)
    if "note" in summary:
        console.print(f"[dim]{escape(summary['note'])}[/dim]")
    if not summary.get("complete", True):
        console.print("[bold red]incomplete:[/bold red] the audio could not be read to the end")


def print_transcript(utterances: list, console: Console) -> None:
    """One line per utterance, in audio order: time, speaker, words."""
    if not utterances:
        console.print("[dim](no speech was transcribed)[/dim]")
        return
    for e in sorted(utterances, key=lambda e: (e.t, e.seq)):
        console.print(f"[dim]{_mmss(e.t)}[/dim] [bold]{e.speaker:>8}[/bold]  {escape(e['text'])}",
                      highlight=False)


def print_coaching(coach: dict[str, Any], console: Console) -> None:
    """The coach's part of the summary: state over time, prompts, the five steps."""
    steps = " ".join(f"{name} {'✓' if done else '✗'}" for name, done in coach["steps"].items())
    timeline = " → ".join(f"{x['level']} {_mmss(x['t'])}" if x["t"] else x["level"]
                          for x in coach["escalation_timeline"])
    console.print(f"[bold]coaching[/bold]: {timeline} (peak {coach['peak_state']})", highlight=False)
    prompts = coach["prompts"]
    for p in prompts.get("log", []):
        console.print(f"  {_mmss(p['t'])} {p['kind']:>11}  {escape(p['title'])}", highlight=False)
    suppressed = prompts.get("suppressed", {})
    held = sum(suppressed.values())
    why_held = ", ".join(f"{reason.replace('_', ' ')} {n}" for reason, n in suppressed.items() if n)
    extra = f", {held} held back ({why_held})" if held else ""
    if prompts.get("withdrawn"):
        extra += f", {prompts['withdrawn']} withdrawn (the final transcript did not confirm its trigger)"
    console.print(f"  prompts shown {prompts['shown']}{extra}; used {prompts['used']}, "
                  f"dismissed {prompts['dismissed']}", highlight=False)
    console.print(f"  five steps: {steps}", highlight=False)
    if coach.get("harmful_phrases"):
        phrases = escape(", ".join(f"{k} {v}" for k, v in coach["harmful_phrases"].items()))
        console.print(f"  harmful phrases: {phrases}", highlight=False)
    if coach.get("incident"):
        console.print(f"  incident recorded: {len(coach['incident']['what_happened'])} events, "
                      f"{coach['incident']['outcome']}", highlight=False)
    if prompts.get("after_call"):
        console.print(f"  after the call: {escape(', '.join(prompts['after_call']))}", highlight=False)
