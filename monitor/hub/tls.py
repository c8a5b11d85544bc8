"""TLS for the hub: the server's certificate, the bind policy, and the clients' trust.

- ``calmline hub --certfile C --keyfile K`` serves https/wss (TLS 1.2 or later,
  the ``ssl`` module's default ciphers); the files are checked at start, and a
  problem is one line naming the file.
- Bind policy: a hub on an address other than loopback carries bearer tokens,
  transcripts and call audio over the network, so it needs TLS, unless the
  person starting it says ``--insecure`` (for a network that is already
  encrypted end to end, e.g. a VPN or a TLS-terminating proxy on the same host).
- Clients (the operator's publisher) verify the hub's certificate with the
  system's trust store; ``CALMLINE_HUB_CA=FILE`` adds a private CA or a
  self-signed hub certificate.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from monitor.errors import CalmlineError

CA_ENV = "CALMLINE_HUB_CA"
LOOPBACK_NAMES = ("localhost", "ip6-localhost")


@dataclass(frozen=True)
class ServerTLS:
    certfile: Path
    keyfile: Path | None

    def context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(str(self.certfile), str(self.keyfile) if self.keyfile else None)
        except FileNotFoundError as exc:
            raise CalmlineError(f"{exc.filename}: file not found") from None
        except PermissionError as exc:
            raise CalmlineError(f"{exc.filename}: cannot read it (permission denied)") from None
        except (ssl.SSLError, OSError) as exc:
            what = f"--certfile {self.certfile}" + (f" / --keyfile {self.keyfile}" if self.keyfile else "")
            raise CalmlineError(f"{what}: not a usable certificate and private key "
                                f"({getattr(exc, 'reason', None) or exc}); give PEM files that belong "
                                "together") from None
        return ctx


def server_tls(certfile: Path | None, keyfile: Path | None) -> ServerTLS | None:
    """The hub's TLS settings from its flags (None: plain http), checked now."""
    if certfile is None and keyfile is None:
        return None
    if certfile is None:
        raise CalmlineError("--keyfile needs --certfile (the hub's certificate, PEM)")
    for flag, path in (("--certfile", certfile), ("--keyfile", keyfile)):
        if path is not None and not path.is_file():
            raise CalmlineError(f"{flag} {path}: " + ("not a file" if path.exists() else "file not found"))
    tls = ServerTLS(certfile, keyfile)
    tls.context()                      # fail now, with the file's name, not at the first client
    return tls


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tls: ServerTLS | None, insecure: bool) -> None:
    """Refuse plain http on a network address unless ``--insecure`` was given."""
    if tls is None and not insecure and not is_loopback(host):
        raise CalmlineError(f"--host {host}: a hub reachable from the network needs TLS "
                            "(--certfile/--keyfile; see README, 'TLS for the hub'), or --insecure "
                            "to send tokens, transcripts and audio in clear")


def key_is_private(keyfile: Path | None) -> bool:
    """False when the private key file can be read by other users."""
    if keyfile is None:
        return True
    try:
        return not (keyfile.stat().st_mode & 0o077)
    except OSError:
        return True


def client_options(url: str) -> dict[str, Any]:
    """Keyword arguments for ``websockets`` ``connect(url, ...)``: with a wss URL
    and ``CALMLINE_HUB_CA`` set, a context that also trusts that CA file."""
    cafile = os.environ.get(CA_ENV)
    if not cafile or urlparse(url).scheme not in ("wss", "https"):
        return {}
    return {"ssl": client_context(cafile)}


def client_context(cafile: str | Path | None = None) -> ssl.SSLContext:
    """The system's trust store, plus ``cafile`` when given."""
    ctx = ssl.create_default_context()
    if cafile:
        try:
            ctx.load_verify_locations(cafile=str(cafile))
        except (OSError, ssl.SSLError) as exc:
            raise CalmlineError(f"{CA_ENV}={cafile}: not a readable PEM certificate file "
                                f"({getattr(exc, 'strerror', None) or exc})") from None
    return ctx
