"""The ``calmline`` command line: one module per command, assembled in
:mod:`monitor.cli.app`.  Command modules import only Typer at load time and the
rest when the command runs, so ``calmline --help`` starts quickly."""

from monitor.cli.app import app, main

__all__ = ["app", "main"]
