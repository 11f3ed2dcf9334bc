"""TLS for the NATS connection: the client side of a server that requires it.

Set ``PERKBUS_NATS_TLS_CA_FILE`` to the CA that signed the servers' certificates (and,
when the servers ask for client certificates, ``PERKBUS_NATS_TLS_CERT_FILE`` and
``PERKBUS_NATS_TLS_KEY_FILE``); the URL may then use ``tls://``. Certificates are always
verified, host names included: a TLS connection that trusts anyone is not offered.
"""

from __future__ import annotations

import ssl

from bus.config import NatsConfig


def client_context(
    ca_file: str = "", cert_file: str = "", key_file: str = ""
) -> ssl.SSLContext | None:
    """The context to connect with, or None for a plain connection (nothing set)."""
    if not (ca_file or cert_file):
        return None
    if bool(cert_file) != bool(key_file):
        raise ValueError("a client certificate needs its key, and a key its certificate")
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def for_config(config: NatsConfig) -> ssl.SSLContext | None:
    return client_context(config.tls_ca_file, config.tls_cert_file, config.tls_key_file)
