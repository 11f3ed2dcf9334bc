"""REST resources for the catalogue: list and search, product detail, curation, custom
products (operations in :mod:`edge.operations`, shared with GraphQL)."""

from __future__ import annotations

from aiohttp import web

from bus.messages import Err
from bus.messages.catalogue import Product
from edge import operations
from edge.http import answer, caller, read_json, read_query
from edge.schemas import CurationIn, ExportQuery, OneProductQuery, ProductQuery

routes = web.RouteTableDef()


@routes.get("/api/v1/catalogue/products")
async def list_products(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, ProductQuery)
    return answer(request, await operations.list_products(who, query))


@routes.get("/api/v1/catalogue/export")
async def export_catalogue(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, ExportQuery)
    return answer(request, await operations.export_catalogue(who, query))


@routes.get("/api/v1/catalogue/products/{product_id}")
async def get_product(request: web.Request) -> web.Response:
    who = caller(request)
    query = read_query(request, OneProductQuery)
    result = await operations.get_product(who, request.match_info["product_id"], query.locale)
    return answer(request, result)


@routes.put("/api/v1/catalogue/products/{product_id}/curation")
async def curate_product(request: web.Request) -> web.Response:
    who = caller(request)
    body = await read_json(request, CurationIn)
    result = await operations.curate_product(who, request.match_info["product_id"], body)
    return answer(request, result)


@routes.post("/api/v1/catalogue/products")
async def add_custom_product(request: web.Request) -> web.Response:
    who = caller(request)
    result = await operations.add_custom_product(who, await read_json(request, Product))
    response = answer(request, result, status=201)
    if not isinstance(result, Err):
        response.headers["Location"] = f"/api/v1/catalogue/products/{result.id}"
    return response
