"""Signing webhook deliveries as the Standard Webhooks specification says.

Each delivery carries three headers: ``webhook-id`` (the same for every attempt of one
delivery: receivers drop repeats by it), ``webhook-timestamp`` (seconds since the epoch,
of this attempt) and ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of
``<id>.<timestamp>.<body>`` under each secret that signs (space-separated, the current
secret first, during a rotation). A secret is ``whsec_`` and the base64 of 32 random
bytes; the key is those bytes. Any Standard Webhooks library verifies these.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"
#: Receivers refuse a timestamp further than this from their clock (replays).
TOLERANCE_S = 300


class BadSignature(ValueError):
    """A delivery whose headers do not verify."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("not a webhook secret") from e
    if not key:
        raise ValueError("an empty webhook secret")
    return key


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = b"%s.%d.%s" % (message_id.encode(), timestamp, body)
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(
    secrets_: Sequence[str], message_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """The headers of one attempt, signed with every secret given."""
    at = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(at),
        "webhook-signature": " ".join(signature(s, message_id, at, body) for s in secrets_),
    }


def verify(secret: str, received: Mapping[str, str], body: bytes, now: float | None = None) -> None:
    """Raise :class:`BadSignature` unless ``received`` (headers, any case) sign ``body``
    with ``secret`` within :data:`TOLERANCE_S` of ``now``."""
    lower = {k.lower(): v for k, v in received.items()}
    message_id = lower.get("webhook-id", "")
    stamp = lower.get("webhook-timestamp", "")
    signatures = lower.get("webhook-signature", "")
    if not (message_id and stamp.isdigit() and signatures):
        raise BadSignature("missing webhook headers")
    clock = time.time() if now is None else now
    if abs(clock - int(stamp)) > TOLERANCE_S:
        raise BadSignature("the timestamp is too far from now")
    expected = signature(secret, message_id, int(stamp), body)
    if not any(hmac.compare_digest(expected, s) for s in signatures.split(" ")):
        raise BadSignature("no signature matches")
