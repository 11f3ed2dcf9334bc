"""Where webhooks may go: public https addresses, unless the installation allows private
ones (development, tests, a receiver on the same network: ADR 37).

A webhook makes the relay send a request to an address a tenant chose; left open, that
reaches the installation's own network (its NATS monitor, its databases' HTTP ports,
a cloud metadata service). The URL is checked when the endpoint is set (an address
literal, ``localhost``) and again at every delivery, against the addresses its name
resolves to then — a name that resolved to a public address yesterday may not today.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

#: Names that are the machine itself, whatever a resolver says (RFC 6761).
_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP address) is a public, routable unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def url_problem(url: str, allow_private: bool) -> str | None:
    """Why deliveries may not go to ``url`` (None: they may, as far as its text says)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        port = parts.port
    except ValueError:  # an address in brackets that is none, a port that is no number
        return "not a URL with a host and port deliveries can go to"
    if parts.username is not None or parts.password is not None:
        return "a webhook URL carries no user name or password"
    if parts.fragment:
        return "a webhook URL has no fragment"
    if not host:
        return "a webhook URL names a host"
    if port == 0:
        return "the port is not a number from 1 to 65535"
    if allow_private:
        return None
    if parts.scheme != "https":
        return "webhooks go to https URLs only"
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return "webhooks do not go to this machine"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: checked against what it resolves to, at each delivery
    if not is_public(host):
        return "webhooks go to public addresses only"
    return None
