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


#: IPv6 ranges that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 and
#: 8215; IPv4-compatible; IPv4-translated): the IPv4 address is what they reach.
_EMBEDDING_V4 = tuple(
    ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "::/96", "::ffff:0:0:0/96")
)
#: Never public, whatever Python's tables say: local-use NAT64, site-local.
_NEVER = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b:1::/48", "fec0::/10"))


#: Said with the refusals a self-hosted installation may lift for its own network.
PRIVATE_HINT = "an operator may allow others on a private network: PERKBUS_WEBHOOKS_PRIVATE_TARGETS"


def is_public(address: str) -> bool:
    """Whether ``address`` (an IP address) is a public, routable unicast address — and,
    for an IPv6 address that embeds an IPv4 one (mapped, NAT64, 6to4, Teredo), whether
    that one is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in n for n in _NEVER):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and any(ip in n for n in _EMBEDDING_V4):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
        if embedded is not None:
            return is_public(str(embedded))
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
        return "webhooks go to https URLs only (" + PRIVATE_HINT + ")"
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return "webhooks do not go to this machine (" + PRIVATE_HINT + ")"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if host.replace(".", "").isdigit() or host.startswith("0x"):  # 127.1, 2130706433
            return "not a host name, nor an address written in full"
        return None  # a name: checked against what it resolves to, at each delivery
    if not is_public(host):
        return "webhooks go to public addresses only (" + PRIVATE_HINT + ")"
    return None
