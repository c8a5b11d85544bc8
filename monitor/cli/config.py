"""``calmline config``: show the default settings or check a settings file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def config_command(
    path: Optional[Path] = typer.Argument(None, help="Settings file to check.", show_default=False),
    defaults: bool = typer.Option(False, "--defaults", help="Print every setting with its default, as TOML."),
) -> None:
    """Print the default settings (--defaults) or check a TOML settings file."""
    from monitor.config import defaults_toml, load_config
    from monitor.errors import CalmlineError

    if defaults:
        typer.echo(defaults_toml(), nl=False)
        return
    if path is None:
        raise CalmlineError("give a settings file to check, or --defaults")
    load_config(path)
    typer.echo(f"{path}: ok")
