"""Sealing secrets at rest: AES-256-GCM with per-tenant data keys under a master key.

Each tenant has its own random 256-bit data key. It is stored only wrapped — encrypted
with the master key (from settings, never stored with the data), with the tenant id as
associated data, so a wrapped key copied to another tenant does not open. Voucher codes
and PINs are sealed with the tenant's data key; the associated data names the tenant and
the voucher, so a sealed code moved to another row does not open either.

A sealed value is ``nonce (12 bytes) || ciphertext+tag``; nonces are random (96 bits), far
below the 2^32 messages per key where random nonces would start to risk a collision.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12
KEY_BYTES = 32


class SealError(Exception):
    """A sealed value did not open: wrong key, wrong context, or tampered."""


def seal(key: bytes, plaintext: bytes, context: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, context.encode())


def unseal(key: bytes, sealed: bytes, context: str) -> bytes:
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode())
    except (InvalidTag, ValueError) as e:
        raise SealError(f"cannot open a value sealed for {context!r}") from e


class MasterKey:
    """The key that wraps tenants' data keys."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("the master key must be 32 bytes (AES-256)")
        self._key = key

    def new_data_key(self, tenant: str) -> tuple[bytes, bytes]:
        """A fresh data key for ``tenant``, and its wrapped form to store."""
        data_key = AESGCM.generate_key(bit_length=256)
        return data_key, seal(self._key, data_key, f"tenant-key:{tenant}")

    def unwrap(self, tenant: str, wrapped: bytes) -> bytes:
        return unseal(self._key, wrapped, f"tenant-key:{tenant}")

    def seal(self, value: bytes, context: str) -> bytes:
        """A platform secret (a token signing key) sealed under the master key itself."""
        return seal(self._key, value, f"platform:{context}")

    def unseal(self, sealed: bytes, context: str) -> bytes:
        return unseal(self._key, sealed, f"platform:{context}")
