"""The egress guard: an address table, URL validation, DNS answers checked, the checked address
connected to, no redirects, timeouts and a response-size cap."""
import pytest

from services import egress
from services.egress import EgressError, EgressPolicy, EgressRefused
from tests.receiver import Reply

STRICT = EgressPolicy()                       # production defaults: https only, no allowlist
LOCAL_HTTP = EgressPolicy(allow_http=True)


@pytest.mark.parametrize("address, words", [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("fd00::1", "unique local"),
    ("fc00::abcd", "unique local"),
    ("fe80::1", "link-local"),
    ("::ffff:127.0.0.1", "IPv6 form of 127.0.0.1, a loopback"),
    ("::ffff:10.0.0.1", "IPv6 form of 10.0.0.1, a private"),
    ("::ffff:169.254.169.254", "metadata"),
    ("64:ff9b::a9fe:a9fe", "metadata"),            # NAT64 form of 169.254.169.254
    ("2002:7f00:1::", "loopback"),                  # 6to4 form of 127.0.0.1
    ("::127.0.0.1", "loopback"),                    # IPv4-compatible form
    ("192.0.2.10", "documentation"),                # TEST-NET-1
    ("198.18.0.1", "benchmarking"),
    # Every range of the IANA special-purpose registries, including those Python calls global ...
    ("192.31.196.1", "AS112"),
    ("192.175.48.53", "AS112"),
    ("192.52.193.1", "AMT relay"),
    ("192.0.0.9", "IETF protocol assignment"),
    ("192.88.99.1", "6to4 relay"),
    ("2001:3::1", "IETF protocol assignment"),
    ("2001:4:112::1", "IETF protocol assignment"),
    ("2620:4f:8000::42", "AS112"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("5f00::1", "segment routing"),
    ("100::1", "discard-only"),
    ("64:ff9b:1::a00:1", "translation"),
    ("2002:808:808::1", "6to4"),                    # a tunnel, even to a public IPv4 address
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "Teredo"),
    # ... and the cloud metadata addresses, public ones included.
    ("168.63.129.16", "Azure"),
    ("169.254.170.2", "ECS task metadata"),
    ("100.100.100.200", "Alibaba"),
    ("fd00:ec2::254", "AWS IPv6 cloud metadata"),
])
def test_refused_addresses(address, words):
    reason = egress.blocked_reason(address)
    assert reason is not None and words in reason
    with pytest.raises(EgressRefused) as refused:
        egress.check_url(f"https://[{address}]/hook" if ":" in address else f"https://{address}/hook", STRICT)
    assert words in refused.value.message and refused.value.field == "url"


def test_a_refused_name_says_what_it_resolves_to_in_a_readable_sentence(monkeypatch):
    monkeypatch.setattr(egress, "_resolve", lambda host, port: ["127.0.0.1"])
    with pytest.raises(EgressRefused) as refused:
        egress.check_url("https://localhost/hook", STRICT)
    assert ("This URL is not allowed: localhost resolves to 127.0.0.1, a loopback address (this server itself). "
            "Orgkit calls only public addresses") in refused.value.message


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "1.1.1.1"])
def test_public_addresses_pass(address):
    assert egress.blocked_reason(address) is None
    target = egress.check_url(f"https://[{address}]/x" if ":" in address else f"https://{address}/x", STRICT)
    assert __import__("ipaddress").ip_address(target.address) == __import__("ipaddress").ip_address(address)


@pytest.mark.parametrize("url, message", [
    ("", "Enter a URL"),
    ("hooks.example.com/x", "full URL"),
    ("ftp://hooks.example.com/x", "Only https:// URLs"),
    ("javascript:alert(1)", "full URL"),
    ("http://93.184.216.34/x", "plain http is turned off"),
    ("https://user:pw@93.184.216.34/x", "user name and password"),
    ("https://93.184.216.34:99999/x", "not a valid URL"),
    ("https:///path-only", "no host name"),
    ("https://exa mple.com/", "spaces"),
    ("https://" + "a" * 2100 + ".com/", "at most 2048"),
    ("https://-bad..name/", "not a valid host name"),
    ("https://no-such-host.invalid/x", "does not resolve"),
])
def test_malformed_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(EgressRefused) as refused:
        egress.check_url(url, STRICT)
    assert message in refused.value.message


def test_every_resolved_address_is_checked(monkeypatch):
    # A name with one public and one private answer is refused: the connection could go to either.
    monkeypatch.setattr(egress, "_resolve", lambda host, port: ["93.184.216.34", "10.0.0.7"])
    with pytest.raises(EgressRefused) as refused:
        egress.check_url("https://hooks.example.com/x", STRICT)
    assert "hooks.example.com resolves to 10.0.0.7" in refused.value.message
    monkeypatch.setattr(egress, "_resolve", lambda host, port: ["169.254.169.254"])
    with pytest.raises(EgressRefused, match="metadata"):
        egress.check_url("https://metadata.attacker.example/x", STRICT)


def test_allowlist_of_networks_and_hosts(monkeypatch):
    monkeypatch.setattr(egress, "_resolve", lambda host, port: ["10.1.2.3"])
    by_cidr = EgressPolicy(allowed_networks=(__import__("ipaddress").ip_network("10.0.0.0/8"),))
    assert egress.check_url("https://hooks.internal/x", by_cidr).address == "10.1.2.3"
    by_host = EgressPolicy.from_config({"EGRESS_ALLOWLIST": "hooks.internal, 192.168.0.0/16"})
    assert egress.check_url("https://hooks.internal/x", by_host).address == "10.1.2.3"
    with pytest.raises(EgressRefused):
        egress.check_url("https://other.internal/x", by_host)
    assert egress.check_url("https://192.168.5.5/x", by_host).address == "192.168.5.5"


def test_request_connects_to_the_checked_address_with_the_original_host(receiver, monkeypatch):
    calls = []

    def resolve(host, port):
        calls.append(host)
        return ["127.0.0.1"]
    monkeypatch.setattr(egress, "_resolve", resolve)
    policy = EgressPolicy.from_config({"EGRESS_ALLOWLIST": "127.0.0.1/32", "EGRESS_ALLOW_HTTP": True})
    response = egress.request("POST", f"http://receiver.test:{receiver.port}/hooks", body=b"{}", policy=policy)
    assert response.status == 200 and response.address == "127.0.0.1"
    (request,) = receiver.requests
    assert request.headers["host"] == f"receiver.test:{receiver.port}" and calls == ["receiver.test"]


def test_request_does_not_follow_redirects_and_caps_the_body(receiver):
    policy = EgressPolicy.from_config({"EGRESS_ALLOWLIST": "127.0.0.1/32", "EGRESS_ALLOW_HTTP": True})
    receiver.script("/r", [Reply(302, headers={"Location": receiver.url("/elsewhere")})])
    receiver.script("/big", [Reply(200, body=b"x" * 50_000)])
    response = egress.request("GET", receiver.url("/r"), policy=policy)
    assert response.status == 302 and response.headers["location"].endswith("/elsewhere")
    assert [r.path for r in receiver.requests] == ["/r"]
    response = egress.request("GET", receiver.url("/big"), policy=policy, max_response_bytes=1000)
    assert response.truncated and len(response.body) == 1000
    with pytest.raises(EgressError, match="larger than"):
        receiver.script("/big", [Reply(200, body=b"x" * 50_000)])
        egress.request("GET", receiver.url("/big"), policy=policy, max_response_bytes=1000, error_on_oversize=True)
    # The pool still works after a truncated answer.
    assert egress.request("GET", receiver.url("/ok"), policy=policy).status == 200


def test_request_timeout_and_refused_connection(receiver):
    policy = EgressPolicy.from_config({"EGRESS_ALLOWLIST": "127.0.0.1/32", "EGRESS_ALLOW_HTTP": True})
    receiver.script("/slow", [Reply(200, delay=2)])
    with pytest.raises(EgressError, match="timed out") as error:
        egress.request("POST", receiver.url("/slow"), body=b"{}", timeout=0.2, policy=policy)
    assert error.value.code == "timeout"
    from tests.servers import free_port
    with pytest.raises(EgressError, match="connection refused"):
        egress.request("POST", f"http://127.0.0.1:{free_port()}/", body=b"{}", policy=policy)


def test_request_refuses_blocked_urls_before_connecting(receiver):
    with pytest.raises(EgressRefused, match="loopback"):
        egress.request("POST", receiver.url().replace("http:", "https:"), body=b"{}", policy=STRICT)
    assert receiver.requests == []
