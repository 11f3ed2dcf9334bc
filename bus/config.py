"""Settings of the NATS connection (a section of the settings tree)."""

from __future__ import annotations

from typing import Annotated

import msgspec


class NatsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    #: ``nats://host:port`` of an external server; unset means start the embedded one.
    url: str | None = None
    #: The ``.creds`` file this process connects with (a user JWT and its seed, ADR 17);
    #: ``perkbus up`` sets it for its children to the embedded server's service user.
    credentials_file: str | None = None
    #: The operator and account keys (nkey seeds) that the embedded server trusts and
    #: ``perkbus nats-creds`` signs users with; created on first use.
    auth_dir: str = "var/keys/nats"
    #: TLS to an external server (``bus/tls.py``): the CA that signed its certificate
    #: and, when it asks for one, this process's certificate and key.
    tls_ca_file: str = ""
    tls_cert_file: str = ""
    tls_key_file: str = ""
    #: Where the embedded server keeps JetStream data.
    data_dir: str = "var/nats"
    #: Port of the embedded server; 0 picks a free one.
    port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    #: Number of tenant partitions; must match the server's subject mapping.
    partitions: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 64
    #: Seconds within which JetStream drops a re-published event with the same id.
    duplicate_window_s: int = 600
    #: Replicas of the PB_EVENTS stream (3 on a 3-node cluster; 1 for the embedded server).
    stream_replicas: int = 1
