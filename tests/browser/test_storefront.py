"""The embeddable storefront in a real browser: a host page of another origin embeds it
with ``embed.js``. On an origin the tenant lists (its programme's ``allowed_origins``),
the component mounts and the app's API calls are answered; on any other origin the
browser refuses them (CORS) and the component says the storefront is not available.

The host pages come from a small aiohttp server of the test's own, on a free port of
127.0.0.1: ``http://localhost:<port>`` is the listed origin, ``http://127.0.0.1:<port>``
(the same server, another origin) the unlisted one.
"""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from tests.browser.conftest import DESKTOP, Live
from tests.browser.pwa_support import edit_programme
from tests.servers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: The host page's own styles: nothing of them may reach inside the storefront.
HOST_STYLE = "h2, label, li { color: rgb(255, 0, 0) !important; font-size: 40px; }"


class HostPages:
    """An intranet page that embeds the storefront, served from its own origin."""

    def __init__(self, live: Live) -> None:
        self.port = free_port()
        self.live = live
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def page(self, request: web.Request) -> web.Response:
        return web.Response(
            text=(
                "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                f"<title>Intranet</title><style>{HOST_STYLE}</style></head>"
                "<body><h1>Acme intranet</h1><h2>News</h2>"
                f"<script src='{self.live.base}/embed.js' data-tenant='demo'></script>"
                "</body></html>"
            ),
            content_type="text/html",
        )

    async def framing(self, request: web.Request) -> web.Response:
        return web.Response(
            text=(
                "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                "<title>Intranet</title></head><body><h1>Acme intranet</h1>"
                f"<iframe title='Rewards' src='{self.live.base}/embed/demo'"
                " width='600' height='500'></iframe></body></html>"
            ),
            content_type="text/html",
        )

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self.page)
        app.router.add_get("/framed", self.framing)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def __enter__(self) -> HostPages:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    @property
    def listed(self) -> str:
        return f"http://localhost:{self.port}"

    @property
    def unlisted(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def set_origin(live: Live, origin: str, listed: bool) -> None:
    """List ``origin`` in the demo tenant's programme, or take it out, keeping what else
    the programme says."""

    def edit(programme: dict[str, Any]) -> None:
        origins = [o for o in programme.get("allowed_origins", []) if o != origin]
        programme["allowed_origins"] = [*origins, origin] if listed else origins

    edit_programme(live, edit)


@pytest.fixture
def host(live: Live) -> Iterator[HostPages]:
    with HostPages(live) as pages:
        set_origin(live, pages.listed, True)
        try:
            yield pages
        finally:  # each test's port is new: leave the demo's list as it was
            set_origin(live, pages.listed, False)


def _first_product(live: Live, email: str, password: str) -> str:
    """The name of the catalogue's first product (by name) as the person sees it."""
    sign_in = {"tenant": "demo", "email": email, "password": password, "mode": "bearer"}
    request = urllib.request.Request(
        f"{live.base}/auth/sign-in",
        data=json.dumps(sign_in).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        token = json.loads(r.read())["access_token"]
    listing = urllib.request.Request(
        f"{live.base}/api/v1/catalogue/products?limit=1",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(listing, timeout=10) as r:
        return str(json.loads(r.read())["products"][0]["name"])


def _page(browser: Any) -> Any:
    context = browser.new_context(viewport=DESKTOP)
    return context.new_page()


def _from_page(page: Any, live: Live, script: str, **args: Any) -> Any:
    """Run ``script`` (an async function of ``base`` and ``args``) in the host page."""
    return page.evaluate(f"async ([base, args]) => {{ {script} }}", [live.base, args])


def test_on_a_listed_origin_the_storefront_mounts_and_the_api_answers(
    browser: Any, live: Live, host: HostPages
) -> None:
    page = _page(browser)
    page.goto(host.listed)
    store = page.locator("perkbus-store")
    store.wait_for(state="attached")
    page.wait_for_selector("perkbus-store[state=ready]")
    assert store.count() == 1  # the one embed.js placed after its script tag

    # the app is in the shadow root, styled by its own sheet, untouched by the page's
    label = store.get_by_label("Email")
    label.wait_for()
    host_colour = page.eval_on_selector("body > h2", "e => getComputedStyle(e).color")
    app_colour = page.locator("perkbus-store label").first.evaluate(
        "e => getComputedStyle(e).color"
    )
    assert host_colour == "rgb(255, 0, 0)"
    assert app_colour != host_colour
    sheet = store.evaluate("e => e.shadowRoot.querySelector('link[rel=stylesheet]').href")
    assert sheet == f"{live.base}/app/app.css"

    # sign in inside the component and see the catalogue (bearer tokens, in memory)
    password = live.demo["sign_in"]["password"]
    first = _first_product(live, "raj@demo.example", password)
    store.get_by_label("Email").fill("raj@demo.example")
    store.get_by_label("Password").fill(password)
    store.get_by_role("button", name="Sign in", exact=True).click()
    store.get_by_role("heading", name="Rewards", exact=True).wait_for()
    store.get_by_text(first).first.wait_for()
    assert page.context.cookies(live.base) == []  # no session cookie across origins
    # the host's storage, which its own scripts share, holds nothing of the store's
    kept = page.evaluate("() => [Object.keys(localStorage), Object.keys(sessionStorage)]")
    assert kept == [[], []], kept

    # the calls the app makes, from the host page's origin: all answered and readable
    seen = _from_page(
        page,
        live,
        """
        const json = { "Content-Type": "application/json" };
        const signIn = await fetch(`${base}/auth/sign-in`, { method: "POST", headers: json,
          body: JSON.stringify({ tenant: "demo", email: args.email, password: args.password,
                                 mode: "bearer" }) });
        const session = await signIn.json();
        const bearer = { Authorization: `Bearer ${session.access_token}` };
        const listing = `${base}/api/v1/catalogue/products?currency=EUR&limit=20`;
        const products = await (await fetch(listing, { headers: bearer })).json();
        const product = products.products.find(p => p.denominations.length > 0);
        const order = await fetch(`${base}/api/v1/orders`, { method: "POST",
          headers: { ...bearer, ...json, "Idempotency-Key": args.key },
          body: JSON.stringify({ product_id: product.id,
            face_value_minor: product.denominations[0], recipient: session.person.id }) });
        const placed = await order.json();
        const orders = await (await fetch(`${base}/api/v1/orders?limit=5`,
          { headers: bearer })).json();
        const history = await fetch(`${base}/api/v1/wallets/${session.person.id}/history`,
          { headers: bearer });
        const refreshed = await fetch(`${base}/oauth/token`, { method: "POST",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ grant_type: "refresh_token",
                                      refresh_token: session.refresh_token }) });
        return { signIn: signIn.status, products: products.products.length,
                 order: order.status, placed: placed.id, location: order.headers.get("Location"),
                 listed: orders.orders.map(o => o.id), history: history.status,
                 refreshed: refreshed.status };
        """,
        email="raj@demo.example",
        password=password,
        key=f"embed-{uuid.uuid4().hex}",
    )
    assert seen["signIn"] == 200
    assert seen["products"] >= 1
    assert seen["order"] == 201  # fulfilled, or failed with its reason: either way, read
    assert seen["location"] == f"/api/v1/orders/{seen['placed']}"  # an exposed header
    assert seen["placed"] in seen["listed"]
    assert (seen["history"], seen["refreshed"]) == (200, 200)
    page.context.close()


def test_on_an_unlisted_origin_the_browser_refuses_and_the_store_says_so(
    browser: Any, live: Live, host: HostPages
) -> None:
    page = _page(browser)
    page.goto(host.unlisted)
    page.wait_for_selector("perkbus-store[state=error]")
    alert = page.locator("perkbus-store [role=alert]")
    assert "not available" in alert.inner_text()
    assert page.locator("perkbus-store input[name=email]").count() == 0  # no app mounted

    refused = _from_page(
        page,
        live,
        """
        const attempts = {
          branding: fetch(`${base}/api/v1/tenants/demo/branding`),
          signIn: fetch(`${base}/auth/sign-in`, { method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ tenant: "demo", email: args.email,
                                   password: args.password, mode: "bearer" }) }),
        };
        const outcome = {};
        for (const [name, attempt] of Object.entries(attempts)) {
          try { outcome[name] = (await attempt).status; }
          catch (e) { outcome[name] = e.name; }
        }
        return outcome;
        """,
        email="raj@demo.example",
        password=live.demo["sign_in"]["password"],
    )
    # the browser's refusal: a network error, never an answer the page could read
    assert refused == {"branding": "TypeError", "signIn": "TypeError"}
    page.context.close()


def test_the_framed_storefront_shows_on_listed_origins_only(
    browser: Any, live: Live, host: HostPages
) -> None:
    page = _page(browser)
    page.goto(f"{host.listed}/framed")
    framed = page.frame_locator("iframe")
    framed.locator("perkbus-store[state=ready]").wait_for()
    framed.locator("perkbus-store").get_by_label("Email").wait_for()

    refused = _page(browser)
    messages: list[str] = []
    refused.on("console", lambda m: messages.append(m.text))
    refused.goto(f"{host.unlisted}/framed")
    refused.wait_for_load_state("load")
    (child,) = refused.main_frame.child_frames
    # the browser would not show the page in this frame: nothing of the store in it
    assert child.locator("perkbus-store").count() == 0
    assert any("frame-ancestors" in m for m in messages), messages
    page.context.close()
    refused.context.close()
