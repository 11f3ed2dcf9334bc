"""The keys that sign access tokens, kept in the ledger and rotated (ADR 14).

Every actor host holds the ring: Ed25519 keys whose private halves are sealed under the
master key. The newest signs; a key is published (JWKS) from its creation until every
token it could have signed has expired — by any host, and a host that has not read the
ring since the next key was made still signs with it. When the newest is older than the rotation
period a host adds a new one; hosts racing to do so each add theirs, which is harmless
(both are published, tokens name their key by ``kid``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import OKPKey

from actors.sealing import MasterKey
from storage.ports import Ledger, SigningKeyRecord

ALGORITHM = "Ed25519"


class KeyRing:
    def __init__(
        self,
        ledger: Ledger,
        master_key: MasterKey,
        rotate_after_s: float,
        token_ttl_s: float,
        reload_every_s: float = 0.0,
    ) -> None:
        self._ledger = ledger
        self._master = master_key
        self._rotate_after_ms = int(rotate_after_s * 1000)
        #: A key stays published this long after the next was made: another host signs
        #: with it until it next reads the ring (every ``reload_every_s``), and its
        #: tokens live ``token_ttl_s`` more.
        self._keep_ms = int((token_ttl_s + reload_every_s) * 1000) + 60_000
        self._keys: list[tuple[SigningKeyRecord, OKPKey]] = []  # newest first

    async def load(self, now_ms: int | None = None) -> None:
        """Read the keys from the ledger, adding a new one if the newest is due."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        records = await self._ledger.signing_keys()
        if not records or records[0].created_ms + self._rotate_after_ms <= now:
            await self._ledger.add_signing_key(self._new_key(now))
            records = await self._ledger.signing_keys()
        self._keys = [(r, self._open(r)) for r in records]

    def _new_key(self, now: int) -> SigningKeyRecord:
        key = OKPKey.generate_key("Ed25519")
        kid = f"k{now // 1000}-{uuid.uuid4().hex[:8]}"
        sealed = self._master.seal(key.as_pem(private=True), f"signing-key:{kid}")
        return SigningKeyRecord(kid, ALGORITHM, sealed, key.as_pem(private=False), now)

    def _open(self, record: SigningKeyRecord) -> OKPKey:
        pem = self._master.unseal(record.private_sealed, f"signing-key:{record.kid}")
        return OKPKey.import_key(pem)

    @property
    def kids(self) -> list[str]:
        return [r.kid for r, _ in self._keys]

    def sign(self, claims: dict[str, Any]) -> str:
        record, key = self._keys[0]
        header = {"alg": ALGORITHM, "kid": record.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, key, algorithms=[ALGORITHM])

    def jwks(self, now_ms: int | None = None) -> dict[str, Any]:
        """The public keys that may have signed a token still valid."""
        now = now_ms if now_ms is not None else int(time.time() * 1000)
        published = []
        for i, (record, key) in enumerate(self._keys):
            stopped = self._keys[i - 1][0].created_ms if i else None  # when the next took over
            if stopped is not None and stopped + self._keep_ms < now:
                continue
            public = key.as_dict(private=False)
            published.append({**public, "kid": record.kid, "use": "sig", "alg": record.algorithm})
        return {"keys": published}
