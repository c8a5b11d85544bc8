"""Console rendering of a call summary (Rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _mmss(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def print_summary(summary: dict[str, Any], console: Console, title: str) -> None:
    table = Table(title=title, title_justify="left", show_header=True, header_style="bold")
    table.add_column("speaker")
    table.add_column("speech", justify="right")
    table.add_column("raised voice", justify="right")
    table.add_column("talked over other", justify="right")
    for name, s in summary["speakers"].items():
        raised = f"{s['raised_voice_s']:.1f} s ({s['raised_voice_count']}x)" if s["raised_voice_count"] else "-"
        table.add_row(name, f"{s['speech_s']:.1f} s", raised, str(s["overlaps_started"]) or "-")
    console.print(table)
    lines = [
        f"duration {_mmss(summary['duration'])} ({summary['duration']:.1f} s)",
        f"overlaps {summary['overlaps']} ({summary['overlap_s']:.1f} s)",
        f"long silences {summary['silences']} ({summary['silence_s']:.1f} s)",
    ]
    mono = sum(s["monologues"] for s in summary["speakers"].values())
    if mono:
        lines.append(f"monologues {mono}")
    for key, label in (("frames_dropped", "frames dropped"), ("input_overflows", "input overflows")):
        if summary.get(key):
            lines.append(f"{label} {summary[key]}")
    console.print(" · ".join(lines))
    if "note" in summary:
        console.print(f"[dim]{summary['note']}[/dim]")
    if not summary.get("complete", True):
        console.print("[bold red]incomplete:[/bold red] the audio could not be read to the end")
