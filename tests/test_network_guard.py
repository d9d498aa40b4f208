"""The suite's network guard (tests/netguard/network_guard.py): nothing beyond loopback, no lookups of
real names, and the domain-verification job asks a local resolver."""
import socket
import subprocess
import sys

import pytest

from services.sso import domains
from tests.netguard import network_guard

OUTSIDE = ("192.0.2.10", 443)   # TEST-NET-1 (RFC 5737); refused before any packet is sent


@pytest.fixture
def escapes():
    """The escapes a test provoked on purpose, taken away so the guard's own check stays quiet."""
    taken = []
    yield taken
    taken.extend(network_guard.escapes)
    network_guard.escapes.clear()


def test_connecting_beyond_loopback_is_refused_and_recorded(escapes):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(OSError, match="network guard"):
        sock.connect(OUTSIDE)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex(OUTSIDE) != 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock, pytest.raises(OSError, match="network guard"):
        sock.sendto(b"?", ("10.255.255.53", 53))
    assert len(network_guard.escapes) == 3


def test_looking_up_a_real_name_is_refused(escapes):
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(socket.gaierror):
        socket.gethostbyname("acme.test")
    assert network_guard.escapes == ["lookup of 'example.com'", "lookup of 'acme.test'"]


def test_an_invalid_name_gets_no_such_name_without_a_lookup():
    with pytest.raises(socket.gaierror) as refused:
        socket.getaddrinfo("no-such-host.invalid", 443)
    assert refused.value.errno == socket.EAI_NONAME and network_guard.escapes == []


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(("localhost", server.getsockname()[1]), timeout=2):
            pass
    assert network_guard.escapes == []


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("::1", True), ("[::1]", True), ("localhost", True), ("app.localhost", True),
    ("0.0.0.0", True), ("::ffff:127.0.0.1", True), (None, True), (socket.gethostname(), True),
    ("10.0.0.1", False), ("192.0.2.10", False), ("example.com", False), ("localhost.example.com", False),
])
def test_what_counts_as_loopback(host, loopback):
    assert network_guard.is_this_machine(host) is loopback


def test_the_domain_check_asks_a_local_resolver_that_knows_no_name(app):
    host = app.config["SSO_DNS_RESOLVER"].rpartition(":")[0]
    assert network_guard.is_this_machine(host)
    assert domains.txt_records("acme-widgets.test") == []


def test_python_processes_the_suite_starts_are_guarded_too():
    probe = "import socket\ntry:\n    socket.getaddrinfo('example.com', 80)\nexcept socket.gaierror as e:\n    print(e)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30).stdout
    assert "network guard" in out
