"""Settings of the edge (a section of the settings tree)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class EdgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 8080
    #: SO_REUSEPORT, so several edge processes share one port (off: a second system
    #: started by mistake on the same port fails instead of sharing traffic).
    reuse_port: bool = False
    #: Edge processes ``perkbus up`` starts on the port (sharing it, ``reuse_port``): more
    #: than one pays on a machine with cores to spare. Without Redis each counts its own
    #: rate limits and fraud velocity.
    processes: Annotated[int, msgspec.Meta(ge=1, le=64)] = 1
    #: Connections the kernel completes and holds for the edge to accept. A burst of new
    #: clients past it loses handshakes, and each loser waits a retransmission (a second
    #: or more) before it is served. 0: as many as the kernel allows
    #: (``net.core.somaxconn``, which also caps any other value).
    listen_backlog: Annotated[int, msgspec.Meta(ge=0, le=1_048_576)] = 0
    #: A file the edge creates once it listens (``perkbus up`` waits for each edge's:
    #: with several on one port, /readyz answering says only that one of them listens).
    ready_file: str = ""
    #: How long the edge waits for an actor's reply.
    request_timeout_s: float = 5.0
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 64 * 1024
    #: PEM file of the public key that verifies access tokens.
    jwt_public_key_file: str = "var/keys/jwt-signing.pub.pem"
    jwt_issuer: str = "perkbus"
    #: Requests per second a principal (person or client) may send, as a token bucket
    #: that holds ``rate_burst``; 0 turns rate limiting off.
    rate_per_s: float = 200.0
    rate_burst: int = 400
    #: The same per client address for the token endpoint (which guards secrets).
    token_rate_per_s: float = 5.0
    token_rate_burst: int = 20
    #: Links to set a password emailed to one address in an hour at most (asked for at
    #: ``/auth/password-reset/request``; more are answered alike and sent nowhere); 0:
    #: no limit but the address's.
    password_links_per_email_per_h: int = 5
    #: Deepest nesting of arrays and objects a JSON body may have.
    max_json_depth: int = 32
    #: PEM certificate chain and key: set both to serve HTTPS (and send HSTS).
    tls_cert_file: str = ""
    tls_key_file: str = ""
    jwt_audience: str = "perkbus-api"
    #: How far back an edge reads the events that revoke tokens when it starts: at least
    #: the access tokens' lifetime (up to a day).
    revocation_window_s: float = 86_400.0
    #: 32 bytes sealing single sign-on login cookies, the same file for every edge
    #: replica (made on first use); ``perkbus`` puts it in its ``var/keys``. Empty: a
    #: key of this process only (one edge).
    sso_state_key_file: str = ""
    #: The site's origin as browsers see it (``https://rewards.example.com``) behind a
    #: proxy that terminates TLS; empty: the request's own scheme and host.
    public_url: str = ""
    #: Proxies in front of the edge (IP addresses or networks, comma-separated) whose
    #: ``X-Forwarded-For`` names the client: rate limits by address count clients, not
    #: the load balancer (``edge.client_address``); empty: the peer is the client.
    trusted_proxies: str = ""
    #: ``/metrics`` (every process's, ADR 40) answers requests from this machine, and from
    #: elsewhere those that send ``Authorization: Bearer <this>``; empty: this machine only.
    metrics_token: str = ""
    #: How long a catalogue page stays cached at the edge at most (a change the edges
    #: hear of ends it sooner, ADR 23); 0 turns the page cache off.
    catalogue_cache_ttl_s: float = 30.0
    #: Orders one principal of a tenant may place in an hour (fraud velocity, counted
    #: across edges when Redis is configured); more get 429 ``velocity_limited``. 0: off.
    velocity_orders_per_hour: int = 10_000
    #: How long a request waits for an order in flight under the same Idempotency-Key
    #: before it gets 409 ``idempotency_key_in_use``.
    idempotency_wait_s: float = 2.0
    #: How long the edge answers a retried order from its cache (the actor's durable
    #: record answers after that); 0: always ask the actor.
    idempotency_reply_ttl_s: float = 300.0
    #: How long an edge keeps a tenant's allowed embed origins (CORS, ADR 28); a
    #: programme written through this edge ends its entry at once. 0: ask every time.
    embed_origins_ttl_s: float = 30.0
