"""The web app's files (``pwa/``), served by the edge: plain ES modules, no build step.

``/`` is the app shell; ``/sw.js`` (the service worker: it must sit at the root to control
the whole app), ``/manifest.webmanifest`` and ``/embed.js`` are at the root; everything
else is under ``/app/``. The shell and those root files are revalidated on every load
(a new release is picked up at once); files under ``/app/`` are cached for an hour and
revalidated by their ``ETag`` after that.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
ROOT_FILES = ("sw.js", "manifest.webmanifest", "embed.js")
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".html": "text/html",
}


def _file(path: Path, cache: str) -> web.StreamResponse:
    if not path.is_file():
        raise web.HTTPNotFound()
    content_type = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0]
    response = web.FileResponse(path, headers={"Cache-Control": cache})
    if content_type:
        response.content_type = content_type
    return response


async def index(request: web.Request) -> web.StreamResponse:
    return _file(PWA_DIR / "index.html", "no-cache")


async def root_file(request: web.Request) -> web.StreamResponse:
    return _file(PWA_DIR / request.path.lstrip("/"), "no-cache")


async def app_file(request: web.Request) -> web.StreamResponse:
    base = (PWA_DIR / "app").resolve()
    wanted = (base / request.match_info["path"]).resolve()
    if not wanted.is_relative_to(base):  # no way out of the app's folder
        raise web.HTTPNotFound()
    return _file(wanted, "public, max-age=3600")


def add_routes(app: web.Application) -> None:
    if not (PWA_DIR / "index.html").exists():
        return
    app.router.add_get("/", index)
    for name in ROOT_FILES:
        app.router.add_get(f"/{name}", root_file)
    app.router.add_get("/app/{path:.+}", app_file)
