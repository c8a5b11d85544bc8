"""``calmline hub``: the supervisor hub, its users and its retention.

Which database: ``--db FILE`` (before or after the subcommand: ``calmline hub
--db X user add ...`` and ``calmline hub user add ... --db X`` are the same),
else ``[hub] db`` from ``--config FILE`` (a relative path is taken from the
config file's folder), else ``~/.local/share/calmline/hub.sqlite3``.  The same
rule for serving, user management and purge.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from monitor.errors import CalmlineError

if TYPE_CHECKING:   # the settings are read when a hub command runs, not for --help
    from monitor.config import Config

hub_app = typer.Typer(help="The supervisor hub: live calls ranked by escalation, call reports, "
                      "listening, with tokens and an audit log.", no_args_is_help=False,
                      invoke_without_command=True)
user_app = typer.Typer(help="Hub users and their tokens.", no_args_is_help=True)
hub_app.add_typer(user_app, name="user")

DB_HELP = ("Hub database file (default: the hub section's db in --config, else "
           "~/.local/share/calmline/hub.sqlite3); before or after the subcommand.")
CONFIG_HELP = ("TOML settings file (the hub section's db, retention_days, dashboard_ended_calls); "
               "before or after the subcommand.")
SERVE_ONLY = ("host", "port", "certfile", "keyfile", "insecure")


def default_db() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "calmline" / "hub.sqlite3"


@dataclass(frozen=True)
class GroupOptions:
    """``--db`` / ``--config`` given before the subcommand (``calmline hub --db X user ...``)."""
    db: Optional[Path] = None
    config: Optional[Path] = None


def _one(flag: str, before: Optional[Path], after: Optional[Path]) -> Optional[Path]:
    if before is not None and after is not None and before != after:
        raise CalmlineError(f"{flag} given twice ({before} and {after}): give it once")
    return after if after is not None else before


def configured_db(cfg: "Config", config: Optional[Path]) -> Optional[Path]:
    if not cfg.hub.db:
        return None
    path = Path(cfg.hub.db).expanduser()
    if not path.is_absolute() and config is not None:
        path = config.parent / path
    return path


def open_store(ctx: Optional[typer.Context], db: Optional[Path], config: Optional[Path] = None):
    """The store and settings for this command, by the one rule in the module docstring."""
    from monitor.hub.store import Store

    group = (ctx.find_object(GroupOptions) if ctx is not None else None) or GroupOptions()
    config = _one("--config", group.config, config)
    db = _one("--db", group.db, db)
    from monitor.config import load_config

    cfg = load_config(config)
    return Store(db or configured_db(cfg, config) or default_db()), cfg


def _typed(ctx: typer.Context, name: str) -> bool:
    """Whether the option was given on the command line (not its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "COMMANDLINE"


@hub_app.callback(invoke_without_command=True)
def hub_command(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; one other than loopback "
                             "(e.g. 0.0.0.0) needs --certfile/--keyfile, or --insecure."),
    port: int = typer.Option(8766, "--port", help="Port to listen on."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
    certfile: Optional[Path] = typer.Option(None, "--certfile", help="Serve https/wss with this "
                                            "certificate (PEM; the chain after it)."),
    keyfile: Optional[Path] = typer.Option(None, "--keyfile", help="The certificate's private key "
                                           "(PEM, unencrypted; keep it 0600)."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow plain http on a network address: "
                                  "tokens, transcripts and audio travel in clear."),
) -> None:
    """Serve the supervisor dashboard and the hub's JSON API (Ctrl-C stops it)."""
    if ctx.invoked_subcommand is not None:
        given = [f"--{n}" for n in SERVE_ONLY if _typed(ctx, n)]
        if given:
            raise CalmlineError(f"{', '.join(given)}: only for serving the hub (`calmline hub ...` "
                                f"with no subcommand), not for `hub {ctx.invoked_subcommand}`")
        ctx.obj = GroupOptions(db, config)
        return
    from monitor.hub import serve, tls
    from monitor.hub.app import create_hub_app

    server_tls = tls.server_tls(certfile, keyfile)
    tls.check_bind(host, server_tls, insecure)
    store, cfg = open_store(None, db, config)
    serve.check_port(host, port)
    users = store.query("SELECT COUNT(*) FROM users WHERE revoked_at IS NULL")[0][0]
    from rich.console import Console

    err = Console(stderr=True, soft_wrap=True)
    scheme = "https" if server_tls else "http"
    err.print(f"calmline hub on {scheme}://{host}:{port}/  (database {store.path})", highlight=False)
    if server_tls is None and not tls.is_loopback(host):
        err.print("[bold]warning:[/bold] no TLS (--insecure): tokens, transcripts and call audio "
                  "travel in clear on the network")
    if server_tls is not None and not tls.key_is_private(server_tls.keyfile):
        err.print(f"[bold]warning:[/bold] {server_tls.keyfile} can be read by other users: chmod 600 it",
                  highlight=False)
    if not users:
        err.print("no users yet: add one with `calmline hub user add NAME --role supervisor`")
    app = create_hub_app(store, snapshot_ended=cfg.hub.dashboard_ended_calls)
    serve.run(app, host, port, tls=server_tls)


@user_app.command("add")
def user_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="User name (e.g. the operator's login)."),
    role: str = typer.Option(..., "--role", help="supervisor or operator"),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Add a user and print their new token (the last word of the output; shown once)."""
    from monitor.hub.auth import add_user

    store, _ = open_store(ctx, db, config)
    token = add_user(store, name, role)
    typer.echo(f"added {role} {name}; their token (store it now, it is not shown again): {token}")


@user_app.command("list")
def user_list(
    ctx: typer.Context,
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """List users, their roles and whether their token is revoked."""
    from monitor.hub.auth import list_users

    store, _ = open_store(ctx, db, config)
    from rich.console import Console
    from rich.table import Table

    table = Table(header_style="bold")
    for col in ("name", "role", "added", "status"):
        table.add_column(col)
    for u in list_users(store):
        added = time.strftime("%Y-%m-%d %H:%M", time.localtime(u["created_at"]))
        status = "revoked " + time.strftime("%Y-%m-%d", time.localtime(u["revoked_at"])) if u["revoked_at"] else "active"
        table.add_row(u["name"], u["role"], added, status)
    Console().print(table)


@user_app.command("revoke")
def user_revoke(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="User whose token stops working now."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Revoke a user's token (the user stays in the audit trail)."""
    from monitor.hub.auth import revoke_user

    store, _ = open_store(ctx, db, config)
    revoke_user(store, name)
    typer.echo(f"revoked {name}")


@hub_app.command("purge")
def purge(
    ctx: typer.Context,
    days: Optional[float] = typer.Option(None, "--days", help="Keep this many days (default: "
                                         "retention_days from the config, 30)."),
    db: Optional[Path] = typer.Option(None, "--db", help=DB_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
) -> None:
    """Delete calls, events, clips and audit entries older than the retention period.

    What is deleted is overwritten, not left in the database files."""
    store, cfg = open_store(ctx, db, config)
    keep = cfg.hub.retention_days if days is None else days
    if not keep > 0 or keep == float("inf"):
        raise CalmlineError("--days must be a number of days more than 0")
    counts = store.purge(time.time() - keep * 86400)
    typer.echo(f"purged {counts['calls']} calls ({counts['events']} events, {counts['clips']} clips) "
               f"and {counts['audit']} audit entries older than {keep:g} days")
    if store.log_kept:
        typer.echo("note: the running hub was busy, so the write-ahead log still holds the deleted "
                   "data; run `calmline hub purge` again in a minute", err=True)
