"""The ``calmline`` command line.

Each command lives in its own module in this package; this one only assembles them
and turns :class:`~monitor.errors.CalmlineError` into a one-line message and exit
code 2, so bad input never ends in a traceback.
"""

from __future__ import annotations

import os
import sys

import typer

from audio.errors import AudioInputError
from monitor.cli.config import config_command
from monitor.cli.devices import devices_command
from monitor.cli.hub import hub_app
from monitor.cli.live import live_command
from monitor.cli.replay import replay_command
from monitor.errors import CalmlineError

app = typer.Typer(
    name="calmline",
    help="Real-time voice call monitor that coaches contact-center operators.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("calmline")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _show_version(value: bool) -> None:
    if value:
        print(f"calmline {_version()}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Real-time voice call monitor that coaches contact-center operators."""


# --- command registration (one line per command module) ---
app.command("replay")(replay_command)
app.command("live")(live_command)
app.command("devices")(devices_command)
app.command("config")(config_command)
app.add_typer(hub_app, name="hub")
from monitor.cli.model import HELP as MODEL_HELP, model_command  # noqa: E402
app.command("model", help=MODEL_HELP, short_help="Prepare, verify or locate the bundled speech model.")(model_command)
from monitor.cli.triggers import triggers as triggers_command  # noqa: E402
app.command("triggers")(triggers_command)
from monitor.cli.serve import HELP as SERVE_HELP, serve_command  # noqa: E402
app.command("serve", help=SERVE_HELP, short_help="Take calls from the phone system (Twilio, AudioHook, AudioSocket), many at once.")(serve_command)
# --- end of command registration ---


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="calmline")
    except CalmlineError as exc:
        print(f"calmline: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except AudioInputError as exc:
        print(f"calmline: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("calmline: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # a bug: say so in one line; CALMLINE_DEBUG=1 shows the traceback
        if os.environ.get("CALMLINE_DEBUG"):
            raise
        print(f"calmline: internal error: {type(exc).__name__}: {exc} "
              "(please report it; set CALMLINE_DEBUG=1 to see the traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
