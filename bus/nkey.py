"""NATS nkeys: Ed25519 key pairs written the way NATS writes them.

NATS names every party of its decentralised auth (operator, account, user) by an
Ed25519 public key in a text form: a prefix byte that says which kind of party it is, the
32 key bytes and a CRC-16 (XMODEM, little-endian), all in unpadded RFC 4648 base32 — so
an operator's key starts with ``O``, an account's with ``A``, a user's with ``U``. The
private half is kept as a *seed*: the 32 private bytes behind a two-byte prefix that
encodes both "seed" and the kind (``SO…``, ``SA…``, ``SU…``), with the same checksum.

The ``nkeys`` package of nats-io (which nats-py uses to answer the server's nonce) reads
these seeds; it cannot make new ones, so this module generates and signs with
``cryptography`` and the tests check both agree.
"""

from __future__ import annotations

import base64
import binascii
import enum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

_SEED_PREFIX = 18 << 3  # base32 "S"
_KEY_BYTES = 32


class Role(enum.IntEnum):
    """The prefix byte of each kind of public key."""

    OPERATOR = 14 << 3  # "O"
    ACCOUNT = 0  # "A"
    USER = 20 << 3  # "U"


class InvalidNKey(ValueError):
    """Text that is not a well-formed nkey (or seed) of the expected kind."""


def _crc16(data: bytes) -> bytes:
    # NATS's CRC-16 is CCITT/XMODEM (polynomial 0x1021, initial 0): binascii's crc_hqx.
    return binascii.crc_hqx(data, 0).to_bytes(2, "little")


def _encode(raw: bytes) -> str:
    return base64.b32encode(raw + _crc16(raw)).decode().rstrip("=")


def _decode(text: str) -> bytes:
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (binascii.Error, ValueError) as e:
        raise InvalidNKey("not base32") from e
    body, checksum = raw[:-2], raw[-2:]
    if len(raw) < 3 or _crc16(body) != checksum:
        raise InvalidNKey("bad checksum")
    return body


def encode_public(role: Role, key: bytes) -> str:
    if len(key) != _KEY_BYTES:
        raise InvalidNKey("a public key has 32 bytes")
    return _encode(bytes([role]) + key)


def decode_public(text: str, role: Role | None = None) -> tuple[Role, bytes]:
    """The kind and the 32 key bytes of a public nkey (of ``role``, when given)."""
    body = _decode(text)
    if len(body) != 1 + _KEY_BYTES or body[0] not in set(Role):
        raise InvalidNKey(f"not a public nkey: {text[:8]}…")
    found = Role(body[0])
    if role is not None and found != role:
        raise InvalidNKey(f"expected an {role.name.lower()} key, got an {found.name.lower()} key")
    return found, body[1:]


def encode_seed(role: Role, private: bytes) -> str:
    if len(private) != _KEY_BYTES:
        raise InvalidNKey("a seed has 32 bytes")
    header = bytes([_SEED_PREFIX | role >> 5, (role & 31) << 3])
    return _encode(header + private)


def decode_seed(text: str) -> tuple[Role, bytes]:
    body = _decode(text)
    if len(body) != 2 + _KEY_BYTES or body[0] & 0b11111000 != _SEED_PREFIX:
        raise InvalidNKey("not an nkey seed")
    prefix = (body[0] & 0b111) << 5 | body[1] >> 3
    if prefix not in set(Role):
        raise InvalidNKey("a seed of an unknown kind of key")
    return Role(prefix), body[2:]


def verify(public: str, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` over ``data`` was made by the holder of ``public``."""
    _, key = decode_public(public)
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, data)
    except InvalidSignature:
        return False
    return True


class NKey:
    """A key pair that can sign: an operator, an account or a user."""

    def __init__(self, role: Role, private: Ed25519PrivateKey) -> None:
        self.role = role
        self._private = private
        raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.public = encode_public(role, raw)

    @classmethod
    def generate(cls, role: Role) -> NKey:
        return cls(role, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: str, role: Role | None = None) -> NKey:
        found, private = decode_seed(seed.strip())
        if role is not None and found != role:
            raise InvalidNKey(f"expected an {role.name.lower()} seed, got an {found.name.lower()}")
        return cls(found, Ed25519PrivateKey.from_private_bytes(private))

    @property
    def seed(self) -> str:
        raw = self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return encode_seed(self.role, raw)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)
