"""Who the client is, when there may be proxies in between: X-Forwarded-For, trusted or not.

Where it sits: the rate limiter counts requests per client (rate_limiter/policies.py)
and the load balancer hashes and pins clients to servers (ip-hash, consistent-hash,
source-ip persistence); both ask `client_ip()` with the list of proxies they trust.

Anyone can send `X-Forwarded-For: 1.2.3.4`, so the header is believed only when the
TCP peer is one of our own proxies. Each proxy appends the address it saw, so the
list is read right to left, skipping our proxies: the first address that is not ours
is the client; anything further left was written by the client itself. The standard
`Forwarded` header (RFC 7239) is not read: no proxy we trust is assumed to write it.
"""

from __future__ import annotations

import ipaddress

from common.http1 import Headers

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(peer: str, headers: Headers, trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address: `peer`, or what our trusted proxies say they saw."""
    if not is_trusted(peer, trusted):
        return peer
    hops = [hop.strip() for value in headers.get_all("x-forwarded-for")
            for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer  # a chain of our proxies only


def is_trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    if not trusted:
        return False  # the usual setup, asked once per request: skip parsing the address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
