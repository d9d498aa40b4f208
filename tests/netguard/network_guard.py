"""The suite never sends a packet off this machine.

install() wraps socket's connect, connect_ex, sendto and the name lookups (getaddrinfo,
gethostbyname): an address or name beyond loopback is refused with an OSError, as an unreachable
network would be, and recorded in `escapes`; a name under .invalid gets the resolver's answer (no
such name) without asking it. tests/conftest.py fails the test that made an escape,
even when the code under test swallowed the error. sitecustomize.py next to this file installs it
in the Python processes the suite starts (worker, web server, bench scripts) through PYTHONPATH.
"""
import errno
import ipaddress
import socket
import sys

escapes = []   # "what target" strings, in order, since the suite last looked

_installed = False


def is_this_machine(host):
    """True for loopback and unspecified addresses, localhost names and this machine's own name (smtplib
    looks it up for its greeting; /etc/hosts answers); False for other names, which would go to DNS."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = host.strip("[]").split("%", 1)[0].lower().rstrip(".")
    if host in ("", "localhost", socket.gethostname().lower()) or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _refuse(what, target):
    message = f"{what} {target!r}"
    escapes.append(message)
    print(f"network guard: refused {message} (tests stay on loopback)", file=sys.stderr)
    return message


def _outside(sock, address):
    return sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple) and not is_this_machine(address[0])


def _never_resolves(host):
    """Names under .invalid never resolve (RFC 6761, 6.4): the guard gives that answer itself."""
    name = (host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)).lower().rstrip(".")
    return name == "invalid" or name.endswith(".invalid")


def _guarded_lookup(real):
    def lookup(host, *args, **kwargs):
        if host is not None and _never_resolves(host):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        if not is_this_machine(host):
            raise socket.gaierror(socket.EAI_NONAME, f"network guard: refused {_refuse('lookup of', host)}")
        return real(host, *args, **kwargs)
    return lookup


def _guarded_send(real, what):
    def send(self, *args):
        address = args[-1]   # connect(address), sendto(data, address), sendto(data, flags, address)
        if _outside(self, address):
            raise OSError(errno.ENETUNREACH, f"network guard: refused {_refuse(what, address)}")
        return real(self, *args)
    return send


def install():
    global _installed
    if _installed:
        return
    _installed = True
    real_connect_ex = socket.socket.connect_ex

    def connect_ex(self, address):
        if _outside(self, address):
            _refuse("connect to", address)
            return errno.ENETUNREACH
        return real_connect_ex(self, address)

    socket.socket.connect = _guarded_send(socket.socket.connect, "connect to")
    socket.socket.sendto = _guarded_send(socket.socket.sendto, "send to")
    socket.socket.connect_ex = connect_ex
    for name in ("getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        setattr(socket, name, _guarded_lookup(getattr(socket, name)))
