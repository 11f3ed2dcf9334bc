"""The address a request came from, when proxies the operator names stand in front.

Behind a load balancer every request's peer is the balancer, so rate limits keyed by
address would put every client in one bucket. With ``PERKBUS_EDGE_TRUSTED_PROXIES`` (IP
addresses or networks, comma-separated), a request whose peer is one of them is taken
to come from the last address in ``X-Forwarded-For`` that is not: the one the nearest
trusted proxy saw. Addresses further left were written by the client and prove nothing.
Without the setting, or from any other peer, the header is ignored.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_networks(spec: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` → networks; raises ValueError naming a bad entry."""
    networks = []
    for part in (p.strip() for p in spec.split(",")):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError as e:
                raise ValueError(f"PERKBUS_EDGE_TRUSTED_PROXIES: {e}") from None
    return tuple(networks)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: web.Request, trusted: Sequence[Network]) -> str:
    """The client's address: the peer's, or behind trusted proxies the one they saw."""
    remote = request.remote or ""
    if not trusted or not _trusted(remote, trusted):
        return remote
    forwarded = ",".join(request.headers.getall("X-Forwarded-For", ()))
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else remote
