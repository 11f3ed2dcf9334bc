"""Settings of the edge (a section of the settings tree)."""

from __future__ import annotations

import msgspec


class EdgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    host: str = "127.0.0.1"
    port: int = 8080
    #: SO_REUSEPORT, so several edge processes share one port (off: a second system
    #: started by mistake on the same port fails instead of sharing traffic).
    reuse_port: bool = False
    #: How long the edge waits for an actor's reply.
    request_timeout_s: float = 5.0
    #: Largest request body accepted, in bytes.
    max_body_bytes: int = 64 * 1024
    #: PEM file of the public key that verifies access tokens.
    jwt_public_key_file: str = "var/keys/jwt-signing.pub.pem"
    jwt_issuer: str = "perkbus"
    jwt_audience: str = "perkbus-api"
