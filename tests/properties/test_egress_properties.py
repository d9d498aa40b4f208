"""Properties of the egress guard (services/egress.py): an address is refused exactly when an oracle
built from Python's ipaddress properties and the IANA special-purpose registries says it is not a
public unicast address, whatever IPv6 form carries it; and no URL string makes the guard raise anything but EgressRefused."""
import ipaddress
import socket
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services import egress
from services.egress import EgressPolicy, EgressRefused

STRICT = EgressPolicy()
PROPERTY_SETTINGS = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# RFC 6052 well-known NAT64 prefix: ipaddress has no property for it.
NAT64 = ipaddress.ip_network("64:ff9b::/96")

SPECIAL_NETWORKS = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "::/128", "::1/128", "::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/32",
    "2001:db8::/32", "2001:10::/28", "2001:20::/28", "2002::/16", "fc00::/7", "fd00::/8", "fe80::/10",
    "fec0::/10", "ff00::/8", "4000::/3", "2000::/3",
)]


# The IANA IPv4 and IPv6 Special-Purpose Address Registries, every row (copied from
# iana.org/assignments/iana-ipv4-special-registry and iana-ipv6-special-registry), except the two
# IPv4-in-IPv6 forms judged by the IPv4 address inside (::ffff:0:0/96, 64:ff9b::/96); and the cloud
# metadata addresses (AWS, Google Cloud, Azure, Alibaba), which the guard refuses too.
IANA_SPECIAL_PURPOSE = [ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "0.0.0.0/32", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.0.0/29", "192.0.0.8/32", "192.0.0.9/32", "192.0.0.10/32", "192.0.0.170/32",
    "192.0.0.171/32", "192.0.2.0/24", "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
    "::1/128", "::/128", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001::/32",
    "2001:1::1/128", "2001:1::2/128", "2001:1::3/128", "2001:2::/48", "2001:3::/32", "2001:4:112::/48",
    "2001:10::/28", "2001:20::/28", "2001:30::/28", "2001:db8::/32", "2002::/16", "2620:4f:8000::/48",
    "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10",
)]
CLOUD_METADATA = [ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.169.253", "169.254.170.2", "168.63.129.16", "100.100.100.200",
    "fd00:ec2::254", "fd00:ec2::23",
)]
SPECIAL_NETWORKS += IANA_SPECIAL_PURPOSE + [ipaddress.ip_network(a) for a in CLOUD_METADATA]


def embedded_ipv4(ip):
    """The IPv4 address an IPv6 address carries, when the packets would end up there."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped:
        return ip.ipv4_mapped
    if ip.sixtofour:
        return ip.sixtofour
    if ip.teredo:
        return ip.teredo[1]
    if ip in NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):   # NAT64, deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def oracle_refuses(ip):
    """Not a public unicast address, by ipaddress's own tables and the IANA registries, for the
    address or the IPv4 inside it (6to4 and Teredo tunnels are refused whatever they carry)."""
    not_public = (not ip.is_global or ip.is_private or ip.is_multicast or ip.is_reserved or ip.is_loopback
                  or ip.is_link_local or ip.is_unspecified or (ip.version == 6 and ip.is_site_local)
                  or ip in CLOUD_METADATA or any(ip in n for n in IANA_SPECIAL_PURPOSE if n.version == ip.version))
    inner = embedded_ipv4(ip)
    if inner is not None:
        # The IPv6 wrapper (::ffff:0:0/96 and the like) is itself "not global" in ipaddress's table;
        # what matters is where the packets go: the IPv4 address inside.
        return oracle_refuses(inner) or bool(ip.sixtofour or ip.teredo)
    return not_public


@st.composite
def addresses_in_special_networks(draw):
    network = draw(st.sampled_from(SPECIAL_NETWORKS))
    offset = draw(st.integers(min_value=0, max_value=network.num_addresses - 1))
    return network[offset]


@st.composite
def ipv6_forms_of_ipv4(draw):
    v4 = draw(st.one_of(st.ip_addresses(v=4), addresses_in_special_networks().filter(lambda a: a.version == 4)))
    form = draw(st.sampled_from(["mapped", "6to4", "nat64", "compatible", "teredo"]))
    n = int(v4)
    if form == "mapped":
        return ipaddress.IPv6Address((0xFFFF << 32) | n)
    if form == "6to4":
        return ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | draw(st.integers(0, 2**80 - 1)))
    if form == "nat64":
        return ipaddress.IPv6Address(int(NAT64.network_address) | n)
    if form == "compatible":
        return ipaddress.IPv6Address(n)
    server = draw(st.integers(0, 2**32 - 1))
    # Teredo (RFC 4380): 2001:0::/32, server IPv4, flags, port, then the client IPv4 obfuscated (xor).
    return ipaddress.IPv6Address((0x20010000 << 96) | (server << 64) | (draw(st.integers(0, 2**32 - 1)) << 32) | (n ^ 0xFFFFFFFF))


any_address = st.one_of(st.ip_addresses(), addresses_in_special_networks(), ipv6_forms_of_ipv4())


@PROPERTY_SETTINGS
@given(any_address)
def test_an_address_is_refused_exactly_when_it_is_not_public(ip):
    assert (egress.blocked_reason(ip) is not None) == oracle_refuses(ip), (str(ip), egress.blocked_reason(ip))


@PROPERTY_SETTINGS
@given(any_address, st.sampled_from(["", "/hook", "/a/b?x=1"]))
def test_a_url_naming_an_address_passes_exactly_when_the_address_is_public(ip, path):
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    url = f"https://{host}{path}"
    try:
        target = egress.check_url(url, STRICT)
    except EgressRefused:
        assert oracle_refuses(ip), str(ip)
    else:
        assert not oracle_refuses(ip), str(ip)
        assert ipaddress.ip_address(target.address) == ip


@PROPERTY_SETTINGS
@given(any_address, st.lists(any_address, max_size=2))
def test_a_host_name_passes_only_when_every_address_it_resolves_to_is_public(first, others):
    """A DNS answer with one internal address among public ones is refused (rebinding defence)."""
    answer = [str(a) for a in [first, *others]]
    with mock.patch.object(egress, "_resolve", return_value=answer):
        try:
            target = egress.check_url("https://hooks.example.com/x", STRICT)
        except EgressRefused:
            assert any(oracle_refuses(ipaddress.ip_address(a)) for a in answer)
        else:
            assert not any(oracle_refuses(ipaddress.ip_address(a)) for a in answer)
            assert target.address == answer[0]


def resolve_or_fail(host, port):
    """A resolver with no network: a fixed public answer for names ending in .test, else no such name."""
    if host.endswith(".test"):
        return ["93.184.216.34"]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


url_parts = st.sampled_from([
    "http://", "https://", "ftp://", "HTTPS://", "//", "https:", "https:///", "[", "]", "::1", "@", ":", "%",
    "user:pw@", "example.test", "xn--", "xn--zz.test", "127.0.0.1", "[::ffff:10.0.0.1]", "[fe80::1%25eth0]",
    ":0", ":65536", ":-1", ":443", "/", "?", "#", "\\", "..", ".", "a" * 64, "\u00e9", "\u2603.test",
    "\x00", "\t", " ", "\u3002", "\ufeff", "%00", "%2e",
])


@PROPERTY_SETTINGS
@given(st.one_of(st.text(max_size=300), st.lists(url_parts, max_size=8).map("".join),
                 st.builds(lambda a, b: a + b, st.lists(url_parts, max_size=4).map("".join), st.text(max_size=40))))
def test_any_url_string_is_either_allowed_or_refused_with_a_message(url):
    with mock.patch.object(egress, "_resolve", side_effect=resolve_or_fail):
        for policy in (STRICT, EgressPolicy(allow_http=True)):
            try:
                target = egress.check_url(url, policy)
            except EgressRefused as refused:
                assert refused.message and refused.field == "url"
            else:
                assert target.scheme in ("http", "https") and target.port > 0
                assert not oracle_refuses(ipaddress.ip_address(target.address))
