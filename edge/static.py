"""The web app's files (``pwa/``), served by the edge: plain ES modules, no build step.

``/`` is the app shell; ``/sw.js`` (the service worker: it must sit at the root to control
the whole app), ``/manifest.webmanifest`` and ``/embed.js`` are at the root; everything
else is under ``/app/``. The shell and those root files are revalidated on every load
(a new release is picked up at once); files under ``/app/`` are cached for an hour and
revalidated by their ``ETag`` after that.

Validators: the ``ETag`` is a hash of the file's bytes, so every edge replica gives a
file the same one whatever its files' times (a revalidation against another replica
still gets 304); ``Last-Modified`` is the file's time, for clients that only send
``If-Modified-Since``.

Other sites load ``/embed.js`` and the files under ``/app/`` (the embeddable storefront,
ADR 28): they are sent with ``Cross-Origin-Resource-Policy: cross-origin`` and, as the
module scripts a host page imports are fetched with CORS, ``Access-Control-Allow-Origin:
*`` — they are public files, read without credentials. Everything else is same-origin.

The admin console (ADR 36) lives in ``pwa/admin/``, at ``/admin/``: same-origin only, and
every file revalidated on each load like the shell (a console is used on a desk, online,
and a release must reach it at once).

Only regular files inside ``pwa/`` are served: no hidden files, no way out of the folder
(``..``, encoded or not, and links that lead outside are not found).
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import stat
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path

from aiohttp import web

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
ROOT_FILES = ("sw.js", "manifest.webmanifest", "embed.js")
#: Root files other sites load (the rest of the root is the app's own).
CROSS_ORIGIN_ROOT_FILES = frozenset({"embed.js"})
SHELL_CACHE = "no-cache"
APP_CACHE = "public, max-age=3600"
_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".html": "text/html",
    ".txt": "text/plain",
}
_TEXT = ("text/", "application/json", "application/manifest+json", "image/svg+xml")


@dataclass(frozen=True)
class _Loaded:
    mtime_ns: int
    size: int
    body: bytes
    etag: str
    last_modified: str
    content_type: str
    charset: str | None


def content_type(path: Path) -> tuple[str, str | None]:
    """The media type of a file, and its charset for text (``utf-8``; None otherwise)."""
    kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    kind = kind or "application/octet-stream"
    return kind, "utf-8" if kind.startswith(_TEXT) else None


class StaticFiles:
    """Files read once and kept with their validators until they change on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._loaded: dict[Path, _Loaded] = {}

    def inside(self, base: Path, relative: str) -> Path | None:
        """The file ``relative`` names under ``base``, or None if it would leave it or
        names a hidden file."""
        parts = relative.split("/")
        if any(not p or p in (".", "..") or p.startswith(".") or "\\" in p for p in parts):
            return None
        if "\x00" in relative:
            return None
        wanted = (base / relative).resolve()
        return wanted if wanted.is_relative_to(base.resolve()) else None

    async def load(self, path: Path) -> _Loaded | None:
        info = _regular_file(path)
        if info is None:
            return None
        kept = self._loaded.get(path)
        if kept is not None and (kept.mtime_ns, kept.size) == (info.st_mtime_ns, info.st_size):
            return kept
        body = await asyncio.to_thread(path.read_bytes)
        kind, charset = content_type(path)
        loaded = _Loaded(
            info.st_mtime_ns,
            info.st_size,
            body,
            f'"{hashlib.sha256(body).hexdigest()[:32]}"',
            formatdate(info.st_mtime, usegmt=True),
            kind,
            charset,
        )
        self._loaded[path] = loaded
        return loaded

    async def respond(
        self, request: web.Request, path: Path | None, cache: str, cross_origin: bool
    ) -> web.Response:
        loaded = await self.load(path) if path is not None else None
        if loaded is None:
            raise web.HTTPNotFound()
        headers = {
            "Cache-Control": cache,
            "ETag": loaded.etag,
            "Last-Modified": loaded.last_modified,
            "Cross-Origin-Resource-Policy": "cross-origin" if cross_origin else "same-origin",
        }
        if cross_origin:
            headers["Access-Control-Allow-Origin"] = "*"
        if _not_modified(request, loaded):
            return web.Response(status=304, headers=headers)
        return web.Response(
            body=loaded.body,
            headers=headers,
            content_type=loaded.content_type,
            charset=loaded.charset,
        )


def _regular_file(path: Path) -> os.stat_result | None:
    """The file's status if it is a regular file. Called on every request, in the event
    loop: a stat is answered from the kernel's cache, cheaper than a thread hop."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found if stat.S_ISREG(found.st_mode) else None


def _not_modified(request: web.Request, loaded: _Loaded) -> bool:
    """RFC 9110 §13.1.2-3: If-None-Match (weak comparison) decides when sent; otherwise
    If-Modified-Since, to the second."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or loaded.etag in tags
    since = request.headers.get("If-Modified-Since")
    if since is None:
        return False
    try:
        moment = parsedate_to_datetime(since).timestamp()
    except (TypeError, ValueError, IndexError):
        return False
    return loaded.mtime_ns // 1_000_000_000 <= moment


FILES = web.AppKey("static_files", StaticFiles)


async def index(request: web.Request) -> web.Response:
    files = request.app[FILES]
    return await files.respond(request, files.root / "index.html", SHELL_CACHE, False)


async def root_file(request: web.Request) -> web.Response:
    files = request.app[FILES]
    name = request.path.lstrip("/")
    cross = name in CROSS_ORIGIN_ROOT_FILES
    return await files.respond(request, files.root / name, SHELL_CACHE, cross)


async def app_file(request: web.Request) -> web.Response:
    files = request.app[FILES]
    path = files.inside(files.root / "app", request.match_info["path"])
    return await files.respond(request, path, APP_CACHE, True)


async def admin_index(request: web.Request) -> web.Response:
    files = request.app[FILES]
    return await files.respond(request, files.root / "admin" / "index.html", SHELL_CACHE, False)


async def admin_redirect(request: web.Request) -> web.Response:
    query = f"?{request.query_string}" if request.query_string else ""
    raise web.HTTPPermanentRedirect(f"/admin/{query}")


async def admin_file(request: web.Request) -> web.Response:
    files = request.app[FILES]
    path = files.inside(files.root / "admin", request.match_info["path"])
    return await files.respond(request, path, SHELL_CACHE, False)


def add_routes(app: web.Application, root: Path = PWA_DIR) -> None:
    if not (root / "index.html").exists():
        return
    app[FILES] = StaticFiles(root)
    app.router.add_get("/", index)
    for name in ROOT_FILES:
        app.router.add_get(f"/{name}", root_file)
    app.router.add_get("/app/{path:.+}", app_file)
    if (root / "admin" / "index.html").exists():
        app.router.add_get("/admin", admin_redirect)
        app.router.add_get("/admin/", admin_index)
        app.router.add_get("/admin/{path:.+}", admin_file)
