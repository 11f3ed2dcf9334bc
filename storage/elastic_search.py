"""Elasticsearch search (the ``elasticsearch`` async client): catalogue and audit log.

Three indices under a prefix: ``<prefix>products``, ``<prefix>audit`` and
``<prefix>meta`` (the indexer's cursors). Their mappings are also installed as index
templates, so an index a write re-creates after the cluster lost it still gets them.
Product texts are mapped per locale to the language's analyser (english, spanish,
french, german, italian, portuguese, a Hindi one built from the Indic normalisers; a
case- and accent-folding standard analyser for the rest), each with a ``folded``
sub-field. A query word must match in the brand, category or the texts of the asked
locale or English: fuzzily (``fuzziness: AUTO``) or as a prefix. Facets are terms
aggregations (the price bands are stored per product as ``bus.price_bands`` keywords,
so every currency is counted in its own bands). Every write refreshes, so it is
searchable when it returns.

elasticsearch-py 9 sends ``application/vnd.elasticsearch+json; compatible-with=9``,
which only Elasticsearch itself accepts; :class:`PlainJsonNode` sends plain
``application/json`` instead, which Elasticsearch accepts too, and so does every
OpenSearch-API server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from elastic_transport import AiohttpHttpNode, HttpHeaders
from elastic_transport._node import NodeApiResponse
from elasticsearch import AsyncElasticsearch, NotFoundError

from bus.messages.catalogue import Product
from storage import fuzzy
from storage.ports import AuditRecord
from storage.search_ports import (
    ANALYSED_LOCALES,
    FACET_SIZE,
    OTHER,
    AuditHits,
    AuditQuery,
    ProductHits,
    ProductQuery,
    build_facets,
    digest,
    locale_group,
    product_bands,
    texts_by_group,
)

_COMPAT = re.compile(r"application/vnd\.elasticsearch\+([a-z-]+)(;\s*compatible-with=\d+)?")


class PlainJsonNode(AiohttpHttpNode):
    """The aiohttp node, sending plain JSON media types (see the module's docstring)."""

    async def perform_request(  # type: ignore[override]
        self,
        method: str,
        target: str,
        body: bytes | None = None,
        headers: HttpHeaders | None = None,
        **kwargs: Any,
    ) -> NodeApiResponse:
        if headers is not None:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                value = headers.get(name)
                if value:
                    headers[name] = _COMPAT.sub(r"application/\1", value)
        return await super().perform_request(method, target, body, headers, **kwargs)


GROUPS = (*ANALYSED_LOCALES, OTHER)
_ANALYSER = {
    "en": "english",
    "es": "spanish",
    "fr": "french",
    "de": "german",
    "it": "italian",
    "pt": "portuguese",
    "hi": "pb_hindi",
    OTHER: "pb_folded",
}
_SETTINGS: dict[str, Any] = {
    "analysis": {
        "analyzer": {
            "pb_folded": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "asciifolding"],
            },
            "pb_hindi": {
                "type": "custom",
                "tokenizer": "standard",
                "filter": ["lowercase", "indic_normalization", "hindi_normalization"],
            },
        }
    }
}
_FOLDED = {"type": "text", "analyzer": "pb_folded"}


def _text(analyser: str) -> dict[str, Any]:
    return {"type": "text", "analyzer": analyser, "fields": {"folded": _FOLDED}}


_PRODUCT_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "tenant": {"type": "keyword"},
        "product_id": {"type": "keyword"},
        "digest": {"type": "keyword", "index": False},
        "status": {"type": "keyword"},
        "category": {"type": "keyword"},
        "brand": {"type": "keyword"},
        "currency": {"type": "keyword"},
        "countries": {"type": "keyword"},
        "bands": {"type": "keyword"},
        "prices": {"type": "long"},
        "range_min": {"type": "long"},
        "range_max": {"type": "long"},
        "brand_text": _FOLDED,
        "category_text": _FOLDED,
        **{f"{kind}_{g}": _text(_ANALYSER[g]) for g in GROUPS for kind in ("name", "desc")},
    },
}
_AUDIT_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {
        "tenant": {"type": "keyword"},
        "seq": {"type": "long"},
        "at_ms": {"type": "long"},
        "actor": {"type": "keyword", "fields": {"text": _FOLDED}},
        "action": {"type": "keyword", "fields": {"text": _FOLDED}},
        "target": {"type": "keyword", "fields": {"text": _FOLDED}},
        "outcome": {"type": "keyword"},
        "detail": _FOLDED,
        "prev_hash": {"type": "keyword", "index": False},
        "hash": {"type": "keyword", "index": False},
    },
}
_META_MAPPINGS: dict[str, Any] = {
    "dynamic": False,
    "properties": {"value": {"type": "keyword", "index": False}},
}
_AUDIT_FIELDS = ["actor.text", "action.text", "target.text", "detail"]


def _text_fields(locale: str) -> list[str]:
    group = locale_group(locale)
    fields = ["brand_text^4", "category_text^2"]
    boosts = {"en": (3, 1)} if group == "en" else {group: (5, 1.5), "en": (3, 1)}
    for g, (name, desc) in boosts.items():
        fields += [f"name_{g}^{name}", f"name_{g}.folded^{name}"]
        fields += [f"desc_{g}^{desc}", f"desc_{g}.folded^{desc}"]
    return fields


def _words_query(text: str, fields: list[str]) -> list[dict[str, Any]]:
    """One clause per query word: it matches fuzzily, or as a prefix, in one of the fields."""
    clauses = []
    for word in fuzzy.query_words(text):
        options = [
            {"multi_match": {"query": word, "fields": fields, "fuzziness": "AUTO"}},
            {"multi_match": {"query": word, "fields": fields, "type": "phrase_prefix"}},
        ]
        clauses.append({"bool": {"should": options, "minimum_should_match": 1}})
    return clauses


def _product_doc(p: Product) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "tenant": p.tenant,
        "product_id": p.id,
        "digest": digest(p),
        "status": p.status,
        "category": p.category,
        "brand": p.brand,
        "currency": p.currency,
        "countries": list(p.countries),
        "bands": product_bands(p),
        "prices": list(p.denominations),
        "brand_text": p.brand,
        "category_text": p.category,
    }
    if p.range is not None:
        doc["range_min"], doc["range_max"] = p.range.min_minor, p.range.max_minor
    for group, (name, description) in texts_by_group(p).items():
        doc[f"name_{group}"], doc[f"desc_{group}"] = name, description
    return doc


def _doc_id(tenant: str, key: str | int) -> str:
    return f"{tenant}|{key}"


class ElasticSearch:
    name = "search:elasticsearch"

    def __init__(self, url: str, prefix: str = "perkbus-", request_timeout_s: float = 3.0) -> None:
        self.es = AsyncElasticsearch(
            url, node_class=PlainJsonNode, request_timeout=request_timeout_s, max_retries=1
        )
        self.prefix = prefix
        self.products = f"{prefix}products"
        self.audit = f"{prefix}audit"
        self.meta = f"{prefix}meta"

    async def migrate(self) -> None:
        for index, mappings in (
            (self.products, _PRODUCT_MAPPINGS),
            (self.audit, _AUDIT_MAPPINGS),
            (self.meta, _META_MAPPINGS),
        ):
            await self.es.indices.put_index_template(
                name=index,
                index_patterns=[index],
                template={"settings": _SETTINGS, "mappings": mappings},
            )
            if not await self.es.indices.exists(index=index):
                await self.es.options(ignore_status=400).indices.create(
                    index=index, settings=_SETTINGS, mappings=mappings
                )

    async def drop(self) -> None:
        """Delete the indices and templates (tests, and a rebuild from scratch)."""
        for index in (self.products, self.audit, self.meta):
            await self.es.options(ignore_status=404).indices.delete(index=index)
            await self.es.options(ignore_status=404).indices.delete_index_template(name=index)

    async def ping(self) -> None:
        await self.es.info()

    async def close(self) -> None:
        await self.es.close()

    async def _bulk(self, operations: list[dict[str, Any]]) -> None:
        if not operations:
            return
        result = await self.es.bulk(operations=operations, refresh=True)
        if result.get("errors"):
            failed = [
                item
                for item in result["items"]
                for op in item.values()
                if op.get("status", 200) >= 300 and op.get("status") != 404
            ]
            if failed:
                raise RuntimeError(f"search index refused {len(failed)} writes: {failed[:3]}")

    async def put_products(self, products: Sequence[Product]) -> None:
        ops: list[dict[str, Any]] = []
        for p in products:
            ops += [{"index": {"_index": self.products, "_id": _doc_id(p.tenant, p.id)}}]
            ops.append(_product_doc(p))
        await self._bulk(ops)

    async def remove_products(self, tenant: str, product_ids: Sequence[str]) -> None:
        await self._bulk(
            [{"delete": {"_index": self.products, "_id": _doc_id(tenant, p)}} for p in product_ids]
        )

    async def product_digests(self, tenant: str) -> dict[str, str]:
        found: dict[str, str] = {}
        after: list[Any] | None = None
        while True:
            result = await self.es.search(
                index=self.products,
                query={"term": {"tenant": tenant}},
                sort=[{"product_id": "asc"}],
                size=1000,
                source_includes=["product_id", "digest"],
                search_after=after,
            )
            hits = result["hits"]["hits"]
            for hit in hits:
                found[hit["_source"]["product_id"]] = hit["_source"]["digest"]
            if len(hits) < 1000:
                return found
            after = hits[-1]["sort"]

    async def search_products(self, query: ProductQuery) -> ProductHits:
        f = query.filter
        filters: list[dict[str, Any]] = [
            {"terms": {"tenant": ["", query.tenant]}},
            {"term": {"status": "active"}},
        ]
        if f.country:
            filters.append({"term": {"countries": f.country}})
        if f.currency:
            filters.append({"term": {"currency": f.currency}})
        if f.category:
            filters.append({"term": {"category": f.category}})
        if f.min_price is not None or f.max_price is not None:
            low, high = f.min_price or 0, f.max_price if f.max_price is not None else 2**62
            ranged = [
                {"range": {"range_min": {"lte": high}}},
                {"range": {"range_max": {"gte": low}}},
            ]
            filters.append(
                {
                    "bool": {
                        "should": [
                            {"range": {"prices": {"gte": low, "lte": high}}},
                            {"bool": {"filter": ranged}},
                        ],
                        "minimum_should_match": 1,
                    }
                }
            )
        bool_query: dict[str, Any] = {
            "filter": filters,
            "must": _words_query(query.text, _text_fields(query.locale)),
        }
        if query.exclude:
            bool_query["must_not"] = [{"terms": {"product_id": sorted(query.exclude)}}]
        aggs = {
            name: {"terms": {"field": field, "size": size}}
            for name, field, size in (
                ("category", "category", FACET_SIZE),
                ("brand", "brand", FACET_SIZE),
                ("country", "countries", FACET_SIZE),
                ("price", "bands", 500),
            )
        }
        result = await self.es.search(
            index=self.products,
            query={"bool": bool_query},
            sort=[{"_score": "desc"}, {"product_id": "asc"}],
            from_=query.offset,
            size=query.limit,
            source_includes=["tenant", "product_id"],
            aggs=aggs,
            track_total_hits=True,
        )
        counts = [
            [(b["key"], b["doc_count"]) for b in result["aggregations"][name]["buckets"]]
            for name in ("category", "brand", "country", "price")
        ]
        return ProductHits(
            hits=tuple(
                (h["_source"]["tenant"], h["_source"]["product_id"]) for h in result["hits"]["hits"]
            ),
            total=int(result["hits"]["total"]["value"]),
            facets=build_facets(*counts),
        )

    async def put_audit(self, records: Sequence[AuditRecord]) -> None:
        ops: list[dict[str, Any]] = []
        for r in records:
            ops.append({"index": {"_index": self.audit, "_id": _doc_id(r.tenant, r.seq)}})
            ops.append(
                {
                    "tenant": r.tenant,
                    "seq": r.seq,
                    "at_ms": r.at_ms,
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "outcome": r.outcome,
                    "detail": r.detail,
                    "prev_hash": r.prev_hash,
                    "hash": r.hash,
                }
            )
        await self._bulk(ops)

    async def search_audit(self, query: AuditQuery) -> AuditHits:
        filters: list[dict[str, Any]] = [{"term": {"tenant": query.tenant}}]
        for field, value in (
            ("actor", query.actor),
            ("action", query.action),
            ("outcome", query.outcome),
        ):
            if value is not None:
                filters.append({"term": {field: value}})
        if query.since_ms or query.until_ms:
            bounds = {"gte": query.since_ms} if query.since_ms else {}
            if query.until_ms:
                bounds["lte"] = query.until_ms
            filters.append({"range": {"at_ms": bounds}})
        must = _words_query(query.text, _AUDIT_FIELDS)
        sort: list[Any] = [{"_score": "desc"}] if must else []
        result = await self.es.search(
            index=self.audit,
            query={"bool": {"filter": filters, "must": must}},
            sort=[*sort, {"seq": "desc"}],
            from_=query.offset,
            size=query.limit,
            track_total_hits=True,
        )
        records = tuple(
            AuditRecord(**{k: h["_source"][k] for k in AuditRecord.__struct_fields__})
            for h in result["hits"]["hits"]
        )
        return AuditHits(records, int(result["hits"]["total"]["value"]))

    async def get_meta(self, key: str) -> str | None:
        try:
            found = await self.es.get(index=self.meta, id=key)
        except NotFoundError:
            return None
        return str(found["_source"]["value"])

    async def set_meta(self, key: str, value: str) -> None:
        await self.es.index(index=self.meta, id=key, document={"value": value}, refresh=True)
