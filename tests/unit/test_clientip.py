"""The client's address through proxies: X-Forwarded-For is believed from trusted peers only."""

from __future__ import annotations

import ipaddress

from common.clientip import client_ip
from common.http1 import Headers

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


def forwarded_for(*values: str) -> Headers:
    return Headers(("X-Forwarded-For", value) for value in values)


def test_a_direct_client_is_its_peer_address_whatever_it_claims():
    assert client_ip("203.0.113.9", forwarded_for("1.2.3.4"), PROXIES) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_forwarded_address_is_believed():
    assert client_ip("10.0.0.2", forwarded_for("198.51.100.7"), PROXIES) == "198.51.100.7"


def test_the_rightmost_untrusted_hop_wins_over_what_the_client_wrote():
    # The client sent "X-Forwarded-For: 1.2.3.4"; our two proxies appended what they saw.
    headers = forwarded_for("1.2.3.4, 198.51.100.7, 10.0.0.5")
    assert client_ip("10.0.0.2", headers, PROXIES) == "198.51.100.7"


def test_forwarded_for_split_over_several_header_lines_is_one_list():
    assert client_ip("127.0.0.1", forwarded_for("1.2.3.4", "198.51.100.7"), PROXIES) == "198.51.100.7"


def test_without_trusted_proxies_the_header_is_ignored():
    assert client_ip("10.0.0.2", forwarded_for("198.51.100.7"), ()) == "10.0.0.2"


def test_a_chain_of_trusted_proxies_only_gives_the_leftmost_hop():
    assert client_ip("10.0.0.2", forwarded_for("10.0.0.7, 10.0.0.5"), PROXIES) == "10.0.0.7"
