"""MongoDB catalogue documents (motor): the production adapter of :class:`CatalogueStore`.

Three collections in the database the URL names (``perkbus`` if it names none):

- ``products``: one document per product, the :class:`Product` itself (``tenant`` ""
  for the platform's), unique on (tenant, id);
- ``curations``: one per tenant (``_id`` the tenant), fenced by ``version``. Markups are
  kept as a list of ``{id, bps}``, not an object keyed by product id: product ids may
  hold dots, which MongoDB field paths cannot address;
- ``revision``: one document, ``{_id: "platform", n}``, bumped after every change of
  the platform's products.

A tenant's view of the catalogue is merged by the server in one aggregation
(:data:`effective_pipeline`). Changes reach the shared cache through a change stream on
``revision``; a server that has none (a standalone ``mongod``) is polled instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import msgspec
from motor.motor_asyncio import AsyncIOMotorClient
from pymongo import ASCENDING, ReplaceOne
from pymongo.errors import DuplicateKeyError, OperationFailure
from pymongo.uri_parser import parse_uri

from bus.messages.catalogue import Curation, Product
from storage.errors import StaleWrite
from storage.ports import CuratedProduct

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "perkbus"
_PLATFORM = {"_id": "platform"}
#: The server cannot open a change stream (a standalone server, not a replica set).
_NO_CHANGE_STREAMS = {40573, 40324, 115}

Document = dict[str, Any]


def database_name(url: str) -> str:
    return parse_uri(url).get("database") or DEFAULT_DATABASE


def effective_pipeline(tenant: str, after: str, limit: int) -> list[Document]:
    """The platform's products and the tenant's own (its own wins on the same id), a
    page of them by id, with the tenant's curation looked up and applied: ``enabled``
    unless its id is disabled, ``markup_bps`` the product's own markup, else the default
    one."""
    markup_of_this = {
        "$filter": {
            "input": {"$ifNull": ["$c.markups", []]},
            "as": "m",
            "cond": {"$eq": ["$$m.id", "$id"]},
        }
    }
    return [
        {"$match": {"tenant": {"$in": ["", tenant]}, "id": {"$gt": after}}},
        {"$sort": {"id": 1, "tenant": -1}},  # the tenant's own first: "" sorts last
        {"$group": {"_id": "$id", "product": {"$first": "$$ROOT"}}},
        {"$replaceRoot": {"newRoot": "$product"}},
        {"$sort": {"id": 1}},
        {"$limit": limit},
        {"$lookup": {"from": "curations", "pipeline": [{"$match": {"_id": tenant}}], "as": "c"}},
        {"$set": {"c": {"$ifNull": [{"$arrayElemAt": ["$c", 0]}, {}]}}},
        {
            "$set": {
                "_enabled": {"$not": [{"$in": ["$id", {"$ifNull": ["$c.disabled", []]}]}]},
                "_markup_bps": {
                    "$ifNull": [
                        {
                            "$arrayElemAt": [
                                {"$map": {"input": markup_of_this, "in": "$$this.bps"}},
                                0,
                            ]
                        },
                        {"$ifNull": ["$c.default_markup_bps", 0]},
                    ]
                },
            }
        },
        {"$project": {"_id": 0, "c": 0}},
    ]


def _product(doc: Document) -> Product:
    doc.pop("_id", None)
    return msgspec.convert(doc, Product)


def _curation_doc(tenant: str, c: Curation) -> Document:
    return {
        "_id": tenant,
        "disabled": sorted(c.disabled),
        "markups": [{"id": pid, "bps": bps} for pid, bps in sorted(c.markup_bps.items())],
        "default_markup_bps": c.default_markup_bps,
        "version": c.version,
    }


def _curation(doc: Document) -> Curation:
    return Curation(
        disabled=frozenset(doc.get("disabled", ())),
        markup_bps={m["id"]: int(m["bps"]) for m in doc.get("markups", ())},
        default_markup_bps=int(doc.get("default_markup_bps", 0)),
        version=int(doc["version"]),
    )


class MongoCatalogue:
    name = "catalogue:mongodb"

    def __init__(
        self,
        url: str,
        timeout_ms: int = 5000,
        poll_interval_s: float = 0.25,
        change_streams: bool = True,
    ) -> None:
        self.client: AsyncIOMotorClient[Document] = AsyncIOMotorClient(
            url, serverSelectionTimeoutMS=timeout_ms
        )
        self.db = self.client[database_name(url)]
        self.poll_interval_s = poll_interval_s
        #: False: :meth:`watch` polls the revision even where change streams exist.
        self.change_streams = change_streams

    async def migrate(self) -> None:
        """Create the indexes and the revision document; safe to run on every start."""
        await self.db.products.create_index(
            [("tenant", ASCENDING), ("id", ASCENDING)], unique=True, name="tenant_id"
        )
        await self.db.revision.update_one(_PLATFORM, {"$setOnInsert": {"n": 0}}, upsert=True)

    async def ping(self) -> None:
        await self.db.command("ping")

    async def close(self) -> None:
        self.client.close()

    async def put_products(self, products: Sequence[Product]) -> None:
        if not products:
            return
        writes = [
            ReplaceOne({"tenant": p.tenant, "id": p.id}, msgspec.to_builtins(p), upsert=True)
            for p in products
        ]
        await self.db.products.bulk_write(writes, ordered=True)
        # After the products: a reader that sees the new revision finds the new products.
        if any(not p.tenant for p in products):
            await self.db.revision.update_one(_PLATFORM, {"$inc": {"n": 1}}, upsert=True)

    async def products(self, tenant: str) -> list[Product]:
        cursor = self.db.products.find({"tenant": tenant}, {"_id": 0}).sort("id", ASCENDING)
        return [_product(doc) async for doc in cursor]

    async def revision(self) -> int:
        doc = await self.db.revision.find_one(_PLATFORM)
        return 0 if doc is None else int(doc["n"])

    async def curation(self, tenant: str) -> Curation:
        doc = await self.db.curations.find_one({"_id": tenant})
        return Curation() if doc is None else _curation(doc)

    async def save_curation(self, tenant: str, curation: Curation) -> None:
        doc = _curation_doc(tenant, curation)
        if curation.version == 1:
            try:
                await self.db.curations.insert_one(doc)
            except DuplicateKeyError as e:
                raise StaleWrite(f"curation of {tenant}", 0) from e
            return
        expected = curation.version - 1
        done = await self.db.curations.replace_one({"_id": tenant, "version": expected}, doc)
        if done.matched_count != 1:
            raise StaleWrite(f"curation of {tenant}", expected)

    async def effective_catalogue(
        self, tenant: str, after: str = "", limit: int = 1000
    ) -> list[CuratedProduct]:
        found: list[CuratedProduct] = []
        async for doc in self.db.products.aggregate(effective_pipeline(tenant, after, limit)):
            enabled, markup = bool(doc.pop("_enabled")), int(doc.pop("_markup_bps"))
            found.append(CuratedProduct(_product(doc), enabled, markup))
        return found

    async def watch(self) -> AsyncGenerator[int, None]:
        if not self.change_streams:
            async for n in self._poll():
                yield n
            return
        stream = self.db.revision.watch([{"$match": {"documentKey._id": "platform"}}])
        try:
            try:
                # Opens the stream before the current revision is read, so no change
                # falls between the two; a change it returns is in that revision anyway.
                await stream.try_next()
            except OperationFailure as e:
                if e.code not in _NO_CHANGE_STREAMS:
                    raise
                log.info("no change streams on this MongoDB (%s): polling the revision", e)
                async for n in self._poll():
                    yield n
                return
            seen = await self.revision()
            yield seen
            async for _ in stream:
                now = await self.revision()
                if now != seen:
                    seen = now
                    yield now
        finally:
            await stream.close()

    async def _poll(self) -> AsyncGenerator[int, None]:
        seen = await self.revision()
        yield seen
        while True:
            await asyncio.sleep(self.poll_interval_s)
            now = await self.revision()
            if now != seen:
                seen = now
                yield now
