"""``calmline triggers``: run the phrase triggers over lines of text on stdin.

One JSON object per input line, in order, flushed as soon as it is ready, so
the command can sit in a pipe next to a live transcriber::

    $ printf 'I want your manager\\n\\n' | calmline triggers --language en --speaker customer
    {"text": "I want your manager", "triggers": [{"category": "manager_request", "id": "manager_request.want_boss", "span": [2, 19]}]}
    {"text": "", "triggers": []}

``span`` is ``[start, end)`` in characters of ``text`` (the line without its
line ending).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from monitor.errors import CalmlineError
from monitor.vocabulary import LANGUAGES, PARTIES


def triggers(
    language: str = typer.Option(
        ..., "--language", "-l", help=f"Language of the text: {', '.join(LANGUAGES)}."
    ),
    speaker: str = typer.Option(
        ..., "--speaker", "-s", help=f"Who said it: {' or '.join(PARTIES)}."
    ),
    playbook: Optional[Path] = typer.Option(
        None,
        "--playbook",
        help="Folder with your own <language>.toml playbooks (the bundled one is used "
        "for a language without a file there).",
    ),
) -> None:
    """Find playbook phrases in lines read from stdin; print one JSON object per line."""
    if language not in LANGUAGES:
        raise CalmlineError(
            f"unknown language {language!r} for --language (supported: {', '.join(LANGUAGES)})"
        )
    if speaker not in PARTIES:
        raise CalmlineError(
            f"unknown speaker {speaker!r} for --speaker (expected {' or '.join(PARTIES)})"
        )
    from monitor.coaching.playbook import load_playbook
    from monitor.coaching.triggers import matcher_for

    matcher = matcher_for(load_playbook(language, playbook))

    stdin = sys.stdin
    stdout = sys.stdout
    if hasattr(stdin, "reconfigure"):
        stdin.reconfigure(encoding="utf-8", errors="replace")
    if hasattr(stdout, "reconfigure"):
        stdout.reconfigure(encoding="utf-8")
    try:
        for raw in iter(stdin.readline, ""):
            text = raw[:-1] if raw.endswith("\n") else raw
            if text.endswith("\r"):
                text = text[:-1]
            found = matcher.match(text, speaker)
            record = {"text": text, "triggers": [m.to_dict() for m in found]}
            stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            stdout.flush()
    except BrokenPipeError:  # the reader went away (e.g. `| head`): stop quietly
        try:
            sys.stdout = None  # type: ignore[assignment]
        finally:
            raise typer.Exit(0)
