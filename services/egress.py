"""The one guarded HTTP client for every outbound call (webhooks, IdP metadata URLs): DESIGN.md section 6.

    target = check_url(url)          # raises EgressRefused with a reason a user can read
    response = request("POST", url, headers={...}, body=b"...", timeout=15, max_response_bytes=20_000)
    response.status, response.headers, response.body, response.elapsed, response.truncated

Server-side request forgery defence: the host is resolved, EVERY resolved address is checked
(every range of the IANA IPv4 and IPv6 special-purpose registries, multicast, the known cloud
metadata addresses such as 169.254.169.254, 168.63.129.16 and fd00:ec2::254, and IPv4 addresses
hidden in IPv6 forms such as ::ffff:10.0.0.1), and the connection goes to the address that was checked, so a
DNS answer that changes between check and connect (DNS rebinding) cannot redirect us. For HTTPS the
TLS handshake still sends the host name (SNI) and the certificate is verified against the host name,
not the address. Redirects are never followed (a 3xx is returned to the caller as it is), every call
has a timeout, and at most max_response_bytes of the body are read.

Operators allow internal receivers with EGRESS_ALLOWLIST (CIDRs and host names) and plain HTTP with
EGRESS_ALLOW_HTTP. Connection pools are kept per (scheme, checked address, port, host name), so
consecutive calls to one receiver reuse a kept-alive connection.
"""
import ipaddress
import socket
import ssl
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import urllib3
from flask import current_app, has_app_context

from services import ServiceError

MAX_URL_LENGTH = 2048
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
USER_AGENT = "Orgkit-Webhooks/1.0 (+https://www.standardwebhooks.com/)"


class EgressRefused(ServiceError):
    """The URL may not be called: malformed, wrong scheme, or a refused address. The message says why."""

    def __init__(self, message, code="egress_refused"):
        super().__init__(message, field="url", code=code)


class EgressError(ServiceError):
    """The call was allowed but failed: timeout, connection refused, TLS error, oversized answer."""

    def __init__(self, message, code="egress_failed"):
        super().__init__(message, field="url", code=code)


@dataclass(frozen=True)
class EgressPolicy:
    allow_http: bool = False
    allowed_networks: tuple = ()
    allowed_hosts: frozenset = frozenset()
    ca_bundle: str = ""

    @classmethod
    def from_config(cls, config):
        networks, hosts = [], set()
        for entry in str(config.get("EGRESS_ALLOWLIST") or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(bool(config.get("EGRESS_ALLOW_HTTP")), tuple(networks), frozenset(hosts),
                   str(config.get("EGRESS_CA_BUNDLE") or ""))

    def allows_host(self, host):
        host = host.lower().rstrip(".")
        return any(host == h or (h.startswith(".") and host.endswith(h)) for h in self.allowed_hosts)

    def allows_address(self, address):
        return any(address in network for network in self.allowed_networks if network.version == address.version)


def current_policy():
    return EgressPolicy.from_config(current_app.config) if has_app_context() else EgressPolicy()


def runs_locally():
    """True when users reach this server on this machine (PUBLIC_BASE_URL on loopback): whoever reads a
    refusal is then the operator, who can change the settings that allow a local receiver."""
    if not has_app_context():
        return False
    host = (urlsplit(str(current_app.config.get("PUBLIC_BASE_URL") or "")).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_receiver_hint(host):
    """What a refusal adds when runs_locally(): the settings that let a receiver on this machine in."""
    try:
        ip = ipaddress.ip_address(host)
        entry = f"{ip}/{ip.max_prefixlen}"
    except ValueError:
        entry = host
    return (" For a receiver on this machine, start Orgkit with EGRESS_ALLOW_HTTP=true (for http://) and "
            f"EGRESS_ALLOWLIST={entry} (for a loopback or private address).") if runs_locally() else ""


@dataclass(frozen=True)
class CheckedTarget:
    """A URL that passed the guard, with the address the connection must go to."""

    url: str
    scheme: str
    host: str        # IDNA-encoded host name (or the address literal)
    port: int
    path: str        # path and query, as sent on the request line
    address: str     # the checked IP address to connect to

    @property
    def host_header(self):
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


@dataclass
class EgressResponse:
    status: int
    headers: dict
    body: bytes
    elapsed: float               # seconds from connect to the end of the body read
    truncated: bool = False      # the body was longer than max_response_bytes
    address: str = ""
    extra: dict = field(default_factory=dict)


# --- Addresses -----------------------------------------------------------------------------------

_NAT64 = ipaddress.ip_network("64:ff9b::/96")            # RFC 6052 well-known NAT64 prefix


def _table(*rows):
    return tuple((ipaddress.ip_network(network), kind) for network, kind in rows)


# Cloud metadata and platform services reachable from inside a VM: checked first so the reason says
# so. 168.63.129.16 (Azure's WireServer) is a public address, which is why it needs naming.
CLOUD_METADATA = _table(
    ("169.254.169.254/32", "the link-local cloud metadata address (AWS, Google Cloud, Azure, OpenStack)"),
    ("169.254.169.253/32", "the AWS VPC DNS resolver address"),
    ("169.254.170.2/32", "the AWS ECS task metadata address"),
    ("168.63.129.16/32", "the Azure platform (WireServer) address"),
    ("100.100.100.200/32", "the Alibaba Cloud metadata address"),
    ("fd00:ec2::254/128", "the AWS IPv6 cloud metadata address"),
    ("fd00:ec2::23/128", "the AWS IPv6 DNS resolver address"),
)

# Every entry of the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and the RFCs
# each row cites), plus multicast, most specific first so the reason names the narrowest range.
# IPv4-mapped (::ffff:0:0/96), NAT64 (64:ff9b::/96) and IPv4-compatible addresses are judged by the
# IPv4 address inside them instead, since that is where the packets go.
SPECIAL_PURPOSE = _table(
    ("0.0.0.0/32", "an unspecified address"),
    ("0.0.0.0/8", "a \"this network\" address (RFC 791)"),
    ("10.0.0.0/8", "a private network address (RFC 1918)"),
    ("100.64.0.0/10", "a carrier-grade NAT (shared) address (RFC 6598)"),
    ("127.0.0.0/8", "a loopback address (this server itself)"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private network address (RFC 1918)"),
    ("192.0.0.0/24", "an IETF protocol assignment address (RFC 6890)"),
    ("192.0.2.0/24", "a documentation address (TEST-NET-1, RFC 5737)"),
    ("192.31.196.0/24", "an AS112 DNS sink address (RFC 7535)"),
    ("192.52.193.0/24", "an AMT relay address (RFC 7450)"),
    ("192.88.99.0/24", "a deprecated 6to4 relay anycast address (RFC 7526)"),
    ("192.168.0.0/16", "a private network address (RFC 1918)"),
    ("192.175.48.0/24", "an AS112 DNS sink address (RFC 7534)"),
    ("198.18.0.0/15", "a benchmarking address (RFC 2544)"),
    ("198.51.100.0/24", "a documentation address (TEST-NET-2, RFC 5737)"),
    ("203.0.113.0/24", "a documentation address (TEST-NET-3, RFC 5737)"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "the limited broadcast address (reserved)"),
    ("240.0.0.0/4", "a reserved address (RFC 1112)"),
    ("::1/128", "a loopback address (this server itself)"),
    ("::/128", "an unspecified address"),
    ("64:ff9b:1::/48", "a local-use IPv4/IPv6 translation address (RFC 8215)"),
    ("100::/64", "a discard-only address (RFC 6666)"),
    ("100:0:0:1::/64", "a dummy IPv6 prefix address (RFC 9780)"),
    ("2001::/32", "a Teredo tunnelling address (RFC 4380)"),
    ("2001:db8::/32", "a documentation address (RFC 3849)"),
    ("2001::/23", "an IETF protocol assignment address (RFC 2928)"),
    ("2002::/16", "a 6to4 tunnelling address (RFC 3056, deprecated)"),
    ("2620:4f:8000::/48", "an AS112 DNS sink address (RFC 7534)"),
    ("3fff::/20", "a documentation address (RFC 9637)"),
    ("5f00::/16", "a segment routing (SRv6) SID address (RFC 9602)"),
    ("fc00::/7", "a private (unique local) IPv6 address"),
    ("fe80::/10", "a link-local address"),
    # fec0::/10 was deprecated (RFC 3879) but routers may still route it inside a site.
    ("fec0::/10", "a site-local IPv6 address"),
    ("ff00::/8", "a multicast address"),
)


def address_kind(address):
    """What kind of refused address this is ("a loopback address ..."), or None for a public one.

    IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d,
    IPv4-compatible ::a.b.c.d) are judged by the IPv4 address inside them; 6to4 and Teredo tunnels
    are refused whatever they carry (and say so when what they carry is refused too).
    """
    ip = ipaddress.ip_address(address) if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)) else address
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is None and int(ip) >> 32 == 0 and int(ip) > 1:   # deprecated IPv4-compatible ::a.b.c.d
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_kind(embedded)
            if inner:
                return f"an IPv6 form of {embedded}, {inner}"
            if not (ip.sixtofour or ip.teredo):
                return None
    for table in (CLOUD_METADATA, SPECIAL_PURPOSE):
        for network, kind in table:
            if ip.version == network.version and ip in network:
                return kind
    # Whatever Python's own copy of the registries knows and the table lacks (e.g. IPv6 ::/8).
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private or not ip.is_global:
        return "not a public internet address"
    return None


def blocked_reason(address):
    """Why an address may not be called ("10.0.0.1 is a private network address ..."), or None."""
    kind = address_kind(address)
    return f"{ipaddress.ip_address(address)} is {kind}" if kind else None


def _resolve(host, port):
    """The host's addresses (strings), in resolver order. Tests replace this to simulate DNS."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen = []
    for info in infos:
        address = info[4][0].split("%", 1)[0]   # drop an IPv6 zone id
        if address not in seen:
            seen.append(address)
    return seen


# --- URLs ----------------------------------------------------------------------------------------

def parse_url(url, policy=None):
    """Split and validate a URL without resolving it. Returns (scheme, host, port, path)."""
    policy = policy or current_policy()
    url = (url or "").strip()
    if not url:
        raise EgressRefused("Enter a URL.", code="required")
    if len(url) > MAX_URL_LENGTH:
        raise EgressRefused(f"Use at most {MAX_URL_LENGTH} characters.", code="too_long")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise EgressRefused("A URL cannot contain spaces or control characters.", code="malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise EgressRefused("That is not a valid URL (check the host and port).", code="malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        if not scheme or not parts.netloc:
            raise EgressRefused("Enter a full URL starting with https://.", code="malformed")
        raise EgressRefused(f"Only https:// URLs are supported, not {scheme}://.", code="scheme")
    if scheme == "http" and not policy.allow_http:
        raise EgressRefused("Use an https:// URL: plain http is turned off on this server."
                            + local_receiver_hint(parts.hostname or ""), code="scheme")
    if parts.username is not None or parts.password is not None:
        raise EgressRefused("Remove the user name and password from the URL.", code="malformed")
    host = parts.hostname
    if not host:
        raise EgressRefused("The URL has no host name.", code="malformed")
    try:
        ip_literal = ipaddress.ip_address(host)
    except ValueError:
        ip_literal = None
    if ip_literal is None:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise EgressRefused(f"{parts.hostname} is not a valid host name.", code="malformed") from None
        if not all(label and len(label) <= 63 for label in host.rstrip(".").split(".")) or len(host) > 253:
            raise EgressRefused(f"{parts.hostname} is not a valid host name.", code="malformed")
    else:
        host = str(ip_literal)
    if port == 0:
        raise EgressRefused("Port 0 cannot be called.", code="malformed")
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port, path


def check_url(url, policy=None):
    """Validate url and resolve its host; every address must be allowed. Returns a CheckedTarget.

    Raises EgressRefused with a reason a user can act on (shown under the URL field).
    """
    policy = policy or current_policy()
    scheme, host, port, path = parse_url(url, policy)
    try:
        addresses = [host] if _is_ip(host) else _resolve(host, port)
    except (socket.gaierror, UnicodeError, OSError):
        raise EgressRefused(f"The host name {host} does not resolve (check for typos).", code="dns") from None
    if not addresses:
        raise EgressRefused(f"The host name {host} does not resolve (check for typos).", code="dns")
    host_allowed = policy.allows_host(host)
    for address in addresses:
        ip = ipaddress.ip_address(address)
        if host_allowed or policy.allows_address(ip):
            continue
        kind = address_kind(ip)
        if kind:
            what = f"{ip} is {kind}" if address == host else f"{host} resolves to {ip}, {kind}"
            raise EgressRefused(
                f"This URL is not allowed: {what}. Orgkit calls only public addresses "
                "(an operator can allow internal hosts with EGRESS_ALLOWLIST)." + local_receiver_hint(host),
                code="blocked_address")
    return CheckedTarget(url=url.strip(), scheme=scheme, host=host, port=port, path=path, address=addresses[0])


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


# --- Requests ------------------------------------------------------------------------------------

_POOL_LIMIT = 512
_pools = OrderedDict()
_pools_lock = threading.Lock()


def _pool_for(target, policy, maxsize):
    key = (target.scheme, target.address, target.port, target.host, policy.ca_bundle)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is not None:
            _pools.move_to_end(key)
            return pool
        if target.scheme == "https":
            context = ssl.create_default_context()
            if policy.ca_bundle:
                context.load_verify_locations(policy.ca_bundle)
            # Connect to the checked address; send and verify the host name (SNI, certificate).
            pool = urllib3.HTTPSConnectionPool(
                target.address, target.port, maxsize=maxsize, block=False, ssl_context=context,
                server_hostname=target.host, assert_hostname=target.host, cert_reqs="CERT_REQUIRED",
            )
        else:
            pool = urllib3.HTTPConnectionPool(target.address, target.port, maxsize=maxsize, block=False)
        _pools[key] = pool
        while len(_pools) > _POOL_LIMIT:
            _, old = _pools.popitem(last=False)
            old.close()
    return pool


def request(method, url, headers=None, body=None, timeout=15.0, max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
            policy=None, pool_size=8, error_on_oversize=False):
    """Make one HTTP request through the guard. Never follows redirects: a 3xx comes back as is.

    Returns an EgressResponse. Raises EgressRefused (URL not allowed) or EgressError (timeout,
    connection or TLS failure; or an answer over max_response_bytes when error_on_oversize).
    """
    policy = policy or current_policy()
    target = check_url(url, policy)
    send_headers = {"User-Agent": USER_AGENT}
    send_headers.update(headers or {})
    send_headers["Host"] = target.host_header
    pool = _pool_for(target, policy, pool_size)
    started = time.monotonic()
    response = None
    try:
        response = pool.urlopen(
            method, target.path, body=body, headers=send_headers, redirect=False, retries=False,
            timeout=urllib3.Timeout(connect=timeout, read=timeout), preload_content=False,
            assert_same_host=False, release_conn=False,
        )
        data = response.read(max_response_bytes + 1)
        truncated = len(data) > max_response_bytes
        if truncated:
            data = data[:max_response_bytes]
            response.close()      # the rest is unread: this connection cannot be reused
        elapsed = time.monotonic() - started
        if truncated and error_on_oversize:
            raise EgressError(f"The answer was larger than {max_response_bytes} bytes.", code="too_large")
        return EgressResponse(
            status=response.status, headers={k.lower(): v for k, v in response.headers.items()}, body=data,
            elapsed=elapsed, truncated=truncated, address=target.address,
        )
    except urllib3.exceptions.NewConnectionError as exc:   # (a subclass of ConnectTimeoutError in urllib3 2)
        raise EgressError(f"Could not connect to {target.host} port {target.port}: {_reason(exc)}", code="connect") from None
    except (urllib3.exceptions.ConnectTimeoutError, urllib3.exceptions.ReadTimeoutError, TimeoutError, socket.timeout):
        raise EgressError(f"No answer within {timeout:g} seconds (timed out).", code="timeout") from None
    except urllib3.exceptions.SSLError as exc:
        raise EgressError(f"TLS handshake failed: {_reason(exc)}", code="tls") from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise EgressError(f"The connection failed: {_reason(exc)}", code="connection") from None
    finally:
        if response is not None:
            response.release_conn()


def _reason(exc):
    text = str(getattr(exc, "reason", None) or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text:
        return "timed out"
    return text.split(": ", 1)[-1][:300]
