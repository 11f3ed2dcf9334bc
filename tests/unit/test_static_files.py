"""The web app's files as the edge serves them: types, validators and 304s, cache
headers, cross-origin loading of the storefront's files, and no way out of ``pwa/``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from edge import static

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[Client]:
    root = tmp_path / "pwa"
    (root / "app" / "i18n").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>shell</title>")
    (root / "embed.js").write_text("export {};")
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {});")
    (root / "manifest.webmanifest").write_text("{}")
    (root / "app" / "main.js").write_text("export function mount() {}")
    (root / "app" / "app.css").write_text(":host { color: black }")
    (root / "app" / "i18n" / "hi.json").write_text('{"hello": "नमस्ते"}')
    (root / "app" / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", root / "app" / "link.txt")
    app = web.Application()
    static.add_routes(app, root)
    async with TestClient(TestServer(app)) as c:
        yield c


async def test_types_and_cache_headers(client: Client) -> None:
    expected = {
        "/": ("text/html", "no-cache"),
        "/embed.js": ("text/javascript", "no-cache"),
        "/sw.js": ("text/javascript", "no-cache"),
        "/manifest.webmanifest": ("application/manifest+json", "no-cache"),
        "/app/main.js": ("text/javascript", "public, max-age=3600"),
        "/app/app.css": ("text/css", "public, max-age=3600"),
        "/app/i18n/hi.json": ("application/json", "public, max-age=3600"),
    }
    for path, (kind, cache) in expected.items():
        async with client.get(path) as r:
            assert r.status == 200, path
            assert (r.content_type, r.headers["Cache-Control"]) == (kind, cache), path
            assert r.charset == "utf-8", path
            assert r.headers["ETag"].startswith('"'), path
            assert "Last-Modified" in r.headers, path
    async with client.get("/app/i18n/hi.json") as r:
        assert (await r.json())["hello"] == "नमस्ते"


async def test_a_known_etag_or_date_gets_304(client: Client) -> None:
    async with client.get("/app/main.js") as r:
        etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
    for validators in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", W/{etag}'},
        {"If-None-Match": "*"},
        {"If-Modified-Since": modified},
    ):
        async with client.get("/app/main.js", headers=validators) as r:
            assert r.status == 304, validators
            assert await r.read() == b""
            assert (r.headers["ETag"], r.headers["Cache-Control"]) == (
                etag,
                "public, max-age=3600",
            )
    # an ETag that does not match decides, whatever the date says
    stale = {"If-None-Match": '"other"', "If-Modified-Since": modified}
    async with client.get("/app/main.js", headers=stale) as r:
        assert r.status == 200
    async with client.get("/app/main.js", headers={"If-Modified-Since": "not a date"}) as r:
        assert r.status == 200


async def test_the_etag_follows_the_content(client: Client, tmp_path: Path) -> None:
    async with client.get("/app/app.css") as r:
        before = r.headers["ETag"]
    (tmp_path / "pwa" / "app" / "app.css").write_text(":host { color: navy }")
    async with client.get("/app/app.css", headers={"If-None-Match": before}) as r:
        assert r.status == 200
        assert r.headers["ETag"] != before
        assert "navy" in await r.text()


async def test_storefront_files_load_from_other_sites(client: Client) -> None:
    for path in ("/embed.js", "/app/main.js", "/app/app.css"):
        async with client.get(path) as r:
            assert r.headers["Cross-Origin-Resource-Policy"] == "cross-origin", path
            assert r.headers["Access-Control-Allow-Origin"] == "*", path
    for path in ("/", "/sw.js", "/manifest.webmanifest"):
        async with client.get(path) as r:
            assert r.headers["Cross-Origin-Resource-Policy"] == "same-origin", path
            assert "Access-Control-Allow-Origin" not in r.headers, path


async def test_nothing_outside_the_app_folder_or_hidden(client: Client) -> None:
    for path in (
        "/app/.env",
        "/app/link.txt",
        "/app/%2e%2e/index.html",
        "/app/..%2f..%2fsecret.txt",
        "/app/i18n/%2e%2e/%2e%2e/index.html",
        "/app/i18n/",
        "/app/i18n",
        "/app/nope.js",
        "/app/main.js%00.css",
        "/app/..\\index.html",
    ):
        async with client.get(path) as r:
            assert r.status == 404, path
            assert "outside" not in await r.text()
