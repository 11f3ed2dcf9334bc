"""One attempt at a webhook delivery: a signed POST, guarded against private addresses.

Unless the installation allows private targets, the request goes only to public
addresses: an address literal is checked before anything is sent, and a name is
resolved by :class:`PublicResolver`, which drops every private, loopback, link-local
or otherwise non-public address it resolves to — so the connection is made to an
address that was checked, not to whatever the name resolves to a moment later (DNS
rebinding). Redirects are not followed (a 3xx is a failed attempt), proxies from the
environment are not used, and only the start of an answer is read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from bus import webhook_signatures
from bus.webhook_urls import is_public, url_problem

USER_AGENT = "perkbus-webhooks/1.0"
#: How much of an answer is kept in the delivery log.
RESPONSE_CHARS = 1000
ERROR_CHARS = 500


#: One answer for a name that resolves to nothing and one that resolves only to private
#: addresses: the difference would let a tenant map the installation's own DNS names.
_UNRESOLVED = "the host name does not resolve to a public address"


class Outcome:
    """What one attempt came to."""

    __slots__ = ("duration_ms", "error", "response", "status_code")

    def __init__(self, status_code: int, duration_ms: int, error: str, response: str) -> None:
        self.status_code = status_code
        self.duration_ms = duration_ms
        self.error = error[:ERROR_CHARS]
        self.response = response[:RESPONSE_CHARS]

    @property
    def delivered(self) -> bool:
        return 200 <= self.status_code < 300 and not self.error


class PrivateAddress(OSError):
    """The name resolves to no public address."""


class PublicResolver(AbstractResolver):
    """A resolver that answers only the public addresses of a name."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if is_public(r["host"])]
        if not public:
            raise PrivateAddress(f"{host} resolves to no public address")
        return public

    async def close(self) -> None:
        await self._inner.close()


class WebhookSender:
    """Sends attempts over one connection pool (open it with :meth:`start`)."""

    def __init__(self, allow_private: bool, timeout_s: float = 10.0, connections: int = 64) -> None:
        self._allow_private = allow_private
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(5.0, timeout_s))
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        resolver: AbstractResolver = DefaultResolver() if self._allow_private else PublicResolver()
        # no limit per host: the dispatcher limits each endpoint itself, and many tenants'
        # endpoints may share one receiving service's host
        connector = aiohttp.TCPConnector(
            limit=self._connections, limit_per_host=0, resolver=resolver, ttl_dns_cache=30
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            trust_env=False,  # no proxy from the environment: it would reach anywhere
            # identity: the answer is kept as text, and it is not decompressed
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            auto_decompress=False,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, url: str, secrets: Sequence[str], message_id: str, body: bytes) -> Outcome:
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        if problem := self._refused(url):
            return Outcome(0, took(), problem, "")
        if self._session is None:
            raise RuntimeError("the sender is not started")
        headers: dict[str, Any] = webhook_signatures.headers(secrets, message_id, body)
        headers["Content-Type"] = "application/json"
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                start = await response.content.read(RESPONSE_CHARS * 4)
                text = start.decode("utf-8", "replace")
                status = response.status
        except PrivateAddress:
            return Outcome(0, took(), _UNRESOLVED, "")
        except aiohttp.ClientConnectorDNSError:
            return Outcome(0, took(), _UNRESOLVED, "")
        except aiohttp.ClientConnectorError as e:
            cause = e.os_error
            if isinstance(cause, (PrivateAddress, socket.gaierror)):
                return Outcome(0, took(), _UNRESOLVED, "")
            return Outcome(0, took(), f"cannot connect: {cause.strerror or cause}", "")
        except TimeoutError:
            return Outcome(0, took(), f"no answer within {self._timeout.total:.0f} s", "")
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as e:
            return Outcome(0, took(), f"{type(e).__name__}: {e}", "")
        error = "" if 200 <= status < 300 else f"the endpoint answered {status}"
        return Outcome(status, took(), error, text)

    def _refused(self, url: str) -> str:
        """Why nothing may be sent to ``url`` now ("" if it may)."""
        if problem := url_problem(url, self._allow_private):
            return problem
        if self._allow_private:
            return ""
        host = (urlsplit(url).hostname or "").strip("[]")
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return ""  # a name: the resolver keeps only its public addresses
        return "" if is_public(host) else "webhooks go to public addresses only"
