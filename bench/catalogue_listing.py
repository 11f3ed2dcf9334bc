"""How long the catalogue actor takes to answer a list, on a large tenant's catalogue.

``python -m bench.catalogue_listing [--custom 5300] [--actor path/to/catalogue.py]``

Seeds an SQLite catalogue in a temporary directory with the demo's 320 platform products
and ``--custom`` products of the tenant's own, then times the catalogue actor's ``handle``
directly (no NATS, no edge, no edge cache: the actor host's event loop time per request):
the first page, walking every page by cursor, a filtered first page, and a degraded search
(no search index). ``--actor`` loads the actor from another file (a copy of an older
``actors/catalogue.py``, to measure before and after on the same machine). Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from actors.runtime.actor import ActorContext, ActorKey
from actors.sealing import MasterKey
from bus.messages import Ok, Request
from bus.messages.catalogue import ListProducts, ProductFilter, ProductPage
from bus.messages.common import Principal
from perkbus.demo_catalogue import generate
from storage.catalogue_cache import PlatformCatalogue
from storage.sqlite import SqliteLedger
from storage.sqlite_catalogue import SqliteCatalogue

TENANT = "big"


def _actor_class(path: str | None) -> Any:
    if path is None:
        from actors.catalogue import CatalogueActor

        return CatalogueActor
    spec = importlib.util.spec_from_file_location("catalogue_under_test", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.CatalogueActor


async def _list(actor: Any, query: ListProducts) -> ProductPage:
    request = Request(TENANT, Principal("bench", roles=("end_user",)), "r", 0, query)
    decision = await actor.handle([request])
    reply = decision.replies[0]
    assert isinstance(reply, Ok), reply
    assert isinstance(reply.value, ProductPage), reply
    return reply.value


def _ms(samples: Sequence[float]) -> str:
    return f"p50 {statistics.median(samples) * 1000:.2f} ms (n={len(samples)})"


async def main(custom: int, actor_path: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteCatalogue(Path(tmp) / "catalogue.sqlite3")
        await store.migrate()
        await store.put_products(generate())
        own = [replace(p, id=f"own-{p.id}", tenant=TENANT) for p in generate(custom, seed=7)]
        await store.put_products(own)
        ledger = SqliteLedger(str(Path(tmp) / "unused-ledger.sqlite3"))
        ctx = ActorContext(ledger, store, PlatformCatalogue(store), MasterKey(b"\0" * 32))
        actor = _actor_class(actor_path)(ctx, ActorKey(TENANT, "catalogue", "-"))
        await actor.on_activate()
        first = ListProducts(limit=100)
        await _list(actor, first)  # the platform's products loaded (and, now, sorted)

        samples = []
        for _ in range(20):
            t = time.perf_counter()
            page = await _list(actor, first)
            samples.append(time.perf_counter() - t)
        print(f"catalogue of {page.total:,} products")
        print(f"first page of 100:          {_ms(samples)}")

        samples, cursor, seen = [], None, 0
        start = time.perf_counter()
        while True:
            t = time.perf_counter()
            page = await _list(actor, replace(first, cursor=cursor))
            samples.append(time.perf_counter() - t)
            seen += len(page.products)
            if (cursor := page.next_cursor) is None:
                break
        walk = time.perf_counter() - start
        print(f"walk of {len(samples)} pages ({seen:,}): {walk * 1000:.0f} ms")
        print(f"  per page:                 {_ms(samples)}")

        narrow = ListProducts(ProductFilter(currency="EUR", min_price=1000), limit=100)
        samples = []
        for _ in range(20):
            t = time.perf_counter()
            await _list(actor, narrow)
            samples.append(time.perf_counter() - t)
        print(f"filtered first page:        {_ms(samples)}")

        search = ListProducts(ProductFilter(q="gift card"), limit=20)
        samples = []
        for _ in range(10):
            t = time.perf_counter()
            await _list(actor, search)
            samples.append(time.perf_counter() - t)
        print(f"degraded search 'gift card': {_ms(samples)}")

        if hasattr(actor, "sorted"):  # kept lists: the first list after a change sorts
            samples = []
            for _ in range(10):
                actor.sorted.clear()
                t = time.perf_counter()
                await _list(actor, first)
                samples.append(time.perf_counter() - t)
            print(f"first page after a change:  {_ms(samples)}")
        await store.close()
        await ledger.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--custom", type=int, default=5300)
    parser.add_argument("--actor", help="a catalogue actor module's file (default: this tree's)")
    args = parser.parse_args()
    asyncio.run(main(args.custom, args.actor))
