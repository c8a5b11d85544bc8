"""Serving the hub: a deadline for half-sent requests, TLS with a self-signed
certificate, and no plain http on a network address (issue 9, items 9 and 13)."""

import json
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest
from websockets.sync.client import connect

from monitor.cli import main
from monitor.errors import CalmlineError
from monitor.event_bus import EventBus
from monitor.http_timeout import TimedH11Protocol
from monitor.hub import serve, tls
from monitor.hub.app import create_hub_app
from monitor.hub.auth import add_user
from monitor.hub.publisher import HubPublisher
from monitor.hub.store import Store


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def hub(tmp_path):
    store = Store(tmp_path / "hub.db")
    tokens = {"sue": add_user(store, "sue", "supervisor"), "olga": add_user(store, "olga", "operator")}
    yield store, tokens
    store.close()


def read_until_closed(sock, limit_s):
    """Everything the server sends until it closes; fails if it is still open after limit_s."""
    sock.settimeout(limit_s)
    got = b""
    started = time.monotonic()
    try:
        while chunk := sock.recv(4096):
            got += chunk
    except socket.timeout:
        pytest.fail(f"the server held a half-sent request open for {limit_s} s")
    return got, time.monotonic() - started


# --- half-sent requests ------------------------------------------------------------------
def test_a_half_sent_request_is_answered_408_and_closed(hub):
    store, tokens = hub
    server = serve.HubServer(create_hub_app(store), "127.0.0.1", free_port(), request_timeout_s=1.0)
    server.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(b"GET /api/me HT")                                   # and nothing more
            got, took = read_until_closed(s, 5.0)
        assert got.startswith(b"HTTP/1.1 408") and 0.8 <= took < 4.0
        # headers that trickle in line by line do not reset the deadline
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            started = time.monotonic()
            s.sendall(b"GET /api/me HTTP/1.1\r\n")
            with pytest.raises((BrokenPipeError, ConnectionResetError)):    # the server hung up
                for _ in range(40):
                    time.sleep(0.1)
                    s.sendall(b"X: y\r\n")
        assert time.monotonic() - started < 3.0         # ~1 s, though a line came every 0.1 s
        # a kept-alive connection: the second request has the same deadline
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(f"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {tokens['sue']}"
                      "\r\n\r\n".encode())
            first = s.recv(4096)
            assert first.startswith(b"HTTP/1.1 200")
            s.sendall(b"GET /api/me HTTP/1.1\r\nHost: 127")
            got, _ = read_until_closed(s, 5.0)       # (the rest of the first answer may come first)
        assert b"HTTP/1.1 408 Request Timeout" in got and got.count(b"HTTP/1.1") == 1
        # a WebSocket outlives the deadline: its request was complete
        with connect(f"ws://127.0.0.1:{server.port}/ws/dashboard", open_timeout=5,
                     additional_headers={"Authorization": f"Bearer {tokens['sue']}"}) as ws:
            assert json.loads(ws.recv(timeout=5))["kind"] == "calls"
            time.sleep(1.5)
            ws.ping().wait(timeout=5)
        assert TimedH11Protocol.timed_out >= 3
    finally:
        server.stop()


def test_the_hub_command_serves_with_a_request_deadline_of_a_few_seconds(tmp_path, monkeypatch, capsys):
    import uvicorn

    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda self, sockets=None: served.append(self.config))
    with pytest.raises(SystemExit) as exit_:
        main(["hub", "--port", str(free_port()), "--db", str(tmp_path / "h.db")])
    assert exit_.value.code in (0, None) and len(served) == 1
    cfg = served[0]
    assert isinstance(cfg.http, type) and issubclass(cfg.http, TimedH11Protocol)
    assert 1 <= cfg.http.request_timeout_s <= 10
    assert cfg.h11_max_incomplete_event_size == 16 * 1024


# --- TLS ---------------------------------------------------------------------------------
def self_signed(tmp_path):
    """A self-signed certificate for 127.0.0.1 and localhost: (certfile, keyfile)."""
    cert, key = tmp_path / "hub.crt", tmp_path / "hub.key"
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        if shutil.which("openssl") is None:
            pytest.skip("neither the cryptography package nor the openssl command is available "
                        "to make a test certificate (make test installs openssl: "
                        "scripts/install-system-deps --test)")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "2", "-subj", "/CN=calmline test hub", "-keyout", str(key),
                        "-out", str(cert), "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, capture_output=True, timeout=30)
        return cert, key
    import datetime
    import ipaddress

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calmline test hub")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(private.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=2))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                               x509.DNSName("localhost")]), critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return cert, key


def test_a_hub_with_a_self_signed_certificate_is_reachable_over_https_with_that_ca(hub, tmp_path, monkeypatch):
    store, tokens = hub
    cert, key = self_signed(tmp_path)
    server = serve.HubServer(create_hub_app(store), "127.0.0.1", free_port(),
                             tls=tls.server_tls(cert, key))
    server.start()
    try:
        assert server.url.startswith("https://")
        request = urllib.request.Request(server.url + "api/me",
                                         headers={"Authorization": f"Bearer {tokens['sue']}"})
        with urllib.request.urlopen(request, context=tls.client_context(cert), timeout=5) as r:
            assert json.loads(r.read()) == {"name": "sue", "role": "supervisor"}
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(request, context=tls.client_context(), timeout=5)   # CA not trusted
        plain = f"http://127.0.0.1:{server.port}/api/me"
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(plain, timeout=5).read()                        # no clear text
        # the operator's publisher talks wss to it, trusting the CA from CALMLINE_HUB_CA
        monkeypatch.setenv(tls.CA_ENV, str(cert))
        bus = EventBus("tls-call")
        publisher = HubPublisher(server.url, tokens["olga"], "tls-call", spool_dir=tmp_path / "spool",
                                 retry_max_s=0.3)
        bus.subscribe(publisher)
        for k in range(5):
            bus.emit("silence", float(k), t_detected=float(k) + 5)
        stats = publisher.close(timeout=10)
        assert stats["hub"]["pending"] == 0
        assert [e["seq"] for e in store.events("tls-call")] == [0, 1, 2, 3, 4]
    finally:
        server.stop()


def test_a_certificate_problem_is_one_line_naming_the_file(tmp_path):
    cert, key = tmp_path / "hub.crt", tmp_path / "hub.key"
    with pytest.raises(CalmlineError, match="--certfile .*hub.crt: file not found"):
        tls.server_tls(cert, key)
    cert.write_text("not a certificate\n")
    key.write_text("not a key\n")
    with pytest.raises(CalmlineError, match="not a usable certificate and private key"):
        tls.server_tls(cert, key)
    with pytest.raises(CalmlineError, match="--keyfile needs --certfile"):
        tls.server_tls(None, key)
    monkey_ca = tmp_path / "missing-ca.pem"
    with pytest.raises(CalmlineError, match="CALMLINE_HUB_CA"):
        tls.client_context(monkey_ca)


# --- no plain http on the network -------------------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_may_serve_plain_http(host):
    tls.check_bind(host, None, insecure=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "hub.example"])
def test_a_network_address_needs_tls_or_insecure(host):
    with pytest.raises(CalmlineError, match="needs TLS.*--insecure"):
        tls.check_bind(host, None, insecure=False)
    tls.check_bind(host, None, insecure=True)
    tls.check_bind(host, tls.ServerTLS(certfile=None, keyfile=None), insecure=False)


def test_the_hub_command_refuses_plain_http_on_the_network_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["hub", "--host", "0.0.0.0", "--port", str(free_port()), "--db", str(tmp_path / "h.db")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.count("\n") == 1
    assert "needs TLS" in err and "--insecure" in err
    assert not (tmp_path / "h.db").exists()                   # refused before anything was opened
