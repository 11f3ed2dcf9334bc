"""Tenant configuration documents over REST and GraphQL: revisions as ETags, stale writes
refused (412) and blind ones too (428), strict validation, RBAC, the public profile."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bus.messages import Err, Principal
from bus.messages.tenant_config import PutDocument
from bus.scopes import SCOPE_CONFIG_ADMIN
from tests.conftest import Cluster

#: Above the ledger (tenant documents are not in the ledger): SQLite only (ADR 30).
pytestmark = pytest.mark.ledgers("sqlite")

BRANDING = "/api/v1/tenant/config/branding"
LOCALES = "/api/v1/tenant/config/locales"
PROGRAMME = "/api/v1/tenant/config/programme"
TEMPLATES = "/api/v1/tenant/config/email-templates"


async def put(
    cluster: Cluster,
    path: str,
    body: Any,
    headers: dict[str, str],
    if_match: str | None = None,
    create: bool = False,
) -> tuple[int, Any, str | None]:
    sent = dict(headers)
    if if_match is not None:
        sent["If-Match"] = if_match
    if create:
        sent["If-None-Match"] = "*"
    async with cluster.client.put(path, json=body, headers=sent) as r:
        return r.status, await r.json(content_type=None), r.headers.get("ETag")


async def get(
    cluster: Cluster, path: str, headers: dict[str, str], **extra: str
) -> tuple[int, Any, str | None]:
    async with cluster.client.get(path, headers={**headers, **extra}) as r:
        body = await r.json(content_type=None) if r.status != 304 else None
        return r.status, body, r.headers.get("ETag")


async def test_create_read_update_with_etags(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    status, body, _ = await get(cluster, BRANDING, acme)
    assert (status, body["code"]) == (404, "not_found")

    status, created, first = await put(
        cluster, BRANDING, {"display_name": "Acme Rewards"}, acme, create=True
    )
    assert status == 201
    assert first is not None
    assert created["display_name"] == "Acme Rewards"
    assert created["colours"]["primary"].startswith("#")  # defaults filled in, stored

    status, read, etag = await get(cluster, BRANDING, acme)
    assert (status, read, etag) == (200, created, first)
    status, _, etag = await get(cluster, BRANDING, acme, **{"If-None-Match": first})
    assert (status, etag) == (304, first)

    changed = {**created, "logo_url": "https://cdn.acme.example/logo.svg"}
    status, updated, second = await put(cluster, BRANDING, changed, acme, if_match=first)
    assert status == 200
    assert second not in (None, first)
    assert updated["logo_url"] == "https://cdn.acme.example/logo.svg"

    status, history, _ = await get(cluster, f"{BRANDING}/revisions", acme)
    assert status == 200
    assert [r["revision"] for r in history["revisions"]] == [
        second.strip('"'),
        first.strip('"'),
    ]
    status, old, etag = await get(cluster, f"{BRANDING}?revision={first.strip(chr(34))}", acme)
    assert (status, old, etag) == (200, created, first)

    status, audit, _ = await get(cluster, "/api/v1/audit?action=tenant_config.put", acme)
    assert status == 200
    assert [(e["target"], e["outcome"]) for e in audit["entries"]] == [("branding", "ok")] * 2


async def test_a_stale_or_blind_write_is_refused_and_changes_nothing(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    _, _, first = await put(
        cluster, LOCALES, {"default": "en", "enabled": ["en"]}, acme, create=True
    )
    assert first is not None
    body = {"default": "de", "enabled": ["de", "en"]}
    _, _, second = await put(cluster, LOCALES, body, acme, if_match=first)

    status, problem, _ = await put(
        cluster, LOCALES, {"default": "fr", "enabled": ["fr"]}, acme, if_match=first
    )
    assert (status, problem["code"], problem["status"]) == (412, "stale_revision", 412)
    assert second is not None
    assert second.strip('"') in problem["detail"]  # says what the revision is now
    status, problem, _ = await put(cluster, LOCALES, body, acme)  # neither precondition
    assert (status, problem["code"]) == (428, "precondition_required")
    status, problem, _ = await put(cluster, LOCALES, body, acme, if_match="*")
    assert status == 428
    status, problem, _ = await put(cluster, LOCALES, body, acme, create=True)  # exists
    assert (status, problem["code"]) == (412, "stale_revision")
    status, problem, _ = await put(cluster, LOCALES, body, acme, if_match=second, create=True)
    assert (status, problem["code"]) == (400, "invalid_request")  # which one is meant?

    status, problem, _ = await put(cluster, LOCALES, body, acme, if_match='"' + "9" * 300 + '"')
    assert (status, problem["code"]) == (412, "stale_revision")
    status, problem, _ = await get(cluster, f"{LOCALES}?revision={'9' * 300}", acme)
    assert (status, problem["code"]) == (404, "not_found")

    status, now, etag = await get(cluster, LOCALES, acme)
    assert (status, now, etag) == (200, body, second)


async def test_of_concurrent_writers_of_one_revision_exactly_one_wins(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    _, _, first = await put(cluster, PROGRAMME, {"points_name": "Stars"}, acme, create=True)
    results = await asyncio.gather(
        *(
            put(cluster, PROGRAMME, {"points_name": f"Name {i}"}, acme, if_match=first)
            for i in range(6)
        )
    )
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200, 412, 412, 412, 412, 412]
    winner = next(body for status, body, _ in results if status == 200)
    _, now, _ = await get(cluster, PROGRAMME, acme)
    assert now == winner


async def test_bad_documents_get_problem_details_and_change_nothing(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    _, _, etag = await put(cluster, BRANDING, {"display_name": "Acme"}, acme, create=True)
    bad_bodies = [
        (BRANDING, {"display_name": "Acme", "colours": {"primary": "#12345"}}, "#/colours/primary"),
        (BRANDING, {"display_name": "Acme", "font": "Comic Sans"}, "#"),
        (BRANDING, {"display_name": "Acme", "logo_url": "javascript:alert(1)"}, "#/logo_url"),
        (BRANDING, {"display_name": ""}, "#/display_name"),
        # colours the app's text would vanish in: translucent, or too little contrast
        (BRANDING, {"display_name": "Acme", "colours": {"text": "#1b1f2400"}}, "#/colours/text"),
        (
            BRANDING,
            {"display_name": "Acme", "colours": {"primary": "#f5d000", "on_primary": "#ffffff"}},
            "#/colours/primary",  # yellow over white: prices and links too
        ),
        (
            BRANDING,
            {"display_name": "Acme", "colours": {"background": "#121212", "surface": "#1e1e1e"}},
            "#/colours/text",  # a dark page under the default dark text
        ),
    ]
    for path, body, pointer in bad_bodies:
        status, problem, _ = await put(cluster, path, body, acme, if_match=etag)
        assert (status, problem["code"]) == (422, "invalid_request"), body
        assert problem["errors"][0]["pointer"] == pointer, body
    others = [
        (LOCALES, {"default": "fr", "enabled": ["en"]}),  # default not enabled
        (LOCALES, {"default": "en", "enabled": ["en", "english"]}),  # not BCP 47
        (PROGRAMME, {"allowed_origins": ["https://intranet.example.com/path"]}),
        (PROGRAMME, {"review_threshold": {"amount_minor": 10.5, "currency": "EUR"}}),
        (PROGRAMME, {"max_orders_per_day": 0}),
        (PROGRAMME, {"review_threshold": {"amount_minor": 100, "currency": "PTS"}}),
        (
            TEMPLATES,
            {"templates": {"order.fulfilled": {"en": {"subject": "Hi {{nme}}", "body": "x"}}}},
        ),
        (TEMPLATES, {"templates": {"order.fulfilled": {"en": {"subject": "Hi {{", "body": "x"}}}}),
        (TEMPLATES, {"templates": {"no.such": {"en": {"subject": "Hi", "body": "x"}}}}),
    ]
    for path, body in others:
        status, problem, _ = await put(cluster, path, body, acme, create=True)
        assert (status, problem["code"]) == (422, "invalid_request"), body
        assert problem["detail"], body
        status, _, _ = await get(cluster, path, acme)
        assert status == 404, body  # nothing was created
    status, _, now = await get(cluster, BRANDING, acme)
    assert (status, now) == (200, etag)


async def test_email_templates_with_known_placeholders_are_kept(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    templates = {
        "templates": {
            "order.fulfilled": {
                "en": {
                    "subject": "Your {{product_name}}",
                    "body": "Hi {{ person_name }}: {{code_url}}",
                },
                "de-DE": {"subject": "Ihr {{product_name}}", "body": "Hallo {{person_name}}"},
            }
        }
    }
    status, stored, _ = await put(cluster, TEMPLATES, templates, acme, create=True)
    assert (status, stored) == (201, {**templates, "off": []})  # every email sent


async def test_reading_needs_config_read_and_writing_config_write(cluster: Cluster) -> None:
    async with cluster.client.get(BRANDING) as r:
        assert r.status == 401
    end_user = cluster.keys.headers("acme", roles=["end_user"])
    status, problem, _ = await get(cluster, BRANDING, end_user)
    assert (status, problem["code"]) == (403, "forbidden")
    auditor = cluster.keys.headers("acme", roles=["auditor"])
    status, _, _ = await get(cluster, BRANDING, auditor)
    assert status == 404  # allowed to read; nothing there yet
    status, problem, _ = await put(cluster, BRANDING, {"display_name": "X"}, auditor, create=True)
    assert (status, problem["code"]) == (403, "forbidden")
    narrowed = cluster.keys.headers("acme", roles=["programme_manager"], grants=["budget:eng"])
    status, problem, _ = await put(cluster, BRANDING, {"display_name": "X"}, narrowed, create=True)
    assert (status, problem["code"]) == (403, "forbidden")
    manager = cluster.keys.headers("acme", roles=["programme_manager"])
    status, _, _ = await put(cluster, BRANDING, {"display_name": "X"}, manager, create=True)
    assert status == 201


async def test_tenants_are_isolated(cluster: Cluster) -> None:
    acme, globex = cluster.keys.headers("acme"), cluster.keys.headers("globex")
    _, _, etag = await put(cluster, BRANDING, {"display_name": "Acme"}, acme, create=True)
    status, _, _ = await get(cluster, BRANDING, globex)
    assert status == 404
    status, problem, _ = await put(cluster, BRANDING, {"display_name": "G"}, globex, if_match=etag)
    assert (status, problem["code"]) == (412, "stale_revision")
    _, acme_now, _ = await get(cluster, BRANDING, acme)
    assert acme_now["display_name"] == "Acme"


async def test_the_public_profile_needs_no_token(cluster: Cluster) -> None:
    async with cluster.client.get("/api/v1/tenants/acme/branding") as r:
        assert r.status == 200
        default = await r.json()
    assert default["display_name"] == "acme"
    assert default["locales"] == {"default": "en", "enabled": ["en"]}
    assert default["allowed_origins"] == []

    acme = cluster.keys.headers("acme")
    branding = {"display_name": "Acme", "colours": {"primary": "#112233", "on_primary": "#fafafa"}}
    await put(cluster, BRANDING, branding, acme, create=True)
    await put(cluster, LOCALES, {"default": "de", "enabled": ["de", "en-GB"]}, acme, create=True)
    programme = {"points_name": "Kudos", "allowed_origins": ["https://intranet.acme.example"]}
    await put(cluster, PROGRAMME, programme, acme, create=True)

    async with cluster.client.get("/api/v1/tenants/acme/branding") as r:
        assert r.status == 200
        assert "Access-Control-Allow-Origin" not in r.headers  # listed origins only (ADR 28)
        etag = r.headers["ETag"]
        profile = await r.json()
    assert profile["display_name"] == "Acme"
    assert profile["css_properties"]["--pb-primary"] == "#112233"
    assert profile["css_properties"]["--pb-on-primary"] == "#fafafa"
    assert profile["locales"] == {"default": "de", "enabled": ["de", "en-GB"]}
    assert profile["allowed_origins"] == ["https://intranet.acme.example"]
    assert profile["points_name"] == "Kudos"
    async with cluster.client.get(
        "/api/v1/tenants/acme/branding", headers={"If-None-Match": etag}
    ) as r:
        assert r.status == 304
    async with cluster.client.get("/api/v1/tenants/globex/branding") as r:
        assert (await r.json())["display_name"] == "globex"  # not acme's
    async with cluster.client.get("/api/v1/tenants/Not%20A%20Tenant/branding") as r:
        assert (r.status, (await r.json())["code"]) == (404, "not_found")


DOCUMENT = """
fragment Doc on TenantConfigResult {
  __typename
  ... on TenantConfig { name revision savedAt document }
  ... on Error { code message retryable }
  ... on InvalidInput { fields { pointer detail } }
}
"""


async def graphql(
    cluster: Cluster, headers: dict[str, str], query: str, **variables: Any
) -> dict[str, Any]:
    async with cluster.client.post(
        "/graphql",
        json={"query": query + DOCUMENT if "...Doc" in query else query, "variables": variables},
        headers=headers,
    ) as r:
        assert r.status == 200
        reply = await r.json()
    assert "errors" not in reply, reply
    data: dict[str, Any] = reply["data"]
    return data


PUT = """
mutation($name: String!, $doc: JSON!, $rev: String) {
  putTenantConfig(name: $name, document: $doc, expectedRevision: $rev) { ...Doc }
}
"""
GET = """
query($name: String!) { tenantConfig(name: $name) { ...Doc } }
"""


async def test_graphql_reads_and_writes_with_revisions(cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    missing = (await graphql(cluster, acme, GET, name="branding"))["tenantConfig"]
    assert (missing["__typename"], missing["code"]) == ("NotFound", "not_found")

    created = (await graphql(cluster, acme, PUT, name="branding", doc={"display_name": "Acme"}))[
        "putTenantConfig"
    ]
    assert created["__typename"] == "TenantConfig"
    assert created["document"]["display_name"] == "Acme"
    first = created["revision"]

    doc = {"display_name": "Acme Corp"}
    updated = (await graphql(cluster, acme, PUT, name="branding", doc=doc, rev=first))[
        "putTenantConfig"
    ]
    assert updated["revision"] != first
    stale = (await graphql(cluster, acme, PUT, name="branding", doc=doc, rev=first))[
        "putTenantConfig"
    ]
    assert (stale["__typename"], stale["code"]) == ("Conflict", "stale_revision")

    bad = {"display_name": "Acme", "colours": {"accent": "red"}}
    invalid = (
        await graphql(cluster, acme, PUT, name="branding", doc=bad, rev=updated["revision"])
    )["putTenantConfig"]
    assert invalid["__typename"] == "InvalidInput"
    assert invalid["fields"][0]["pointer"] == "#/document/colours/accent"
    unknown = (await graphql(cluster, acme, GET, name="theme"))["tenantConfig"]
    assert unknown["__typename"] == "InvalidInput"

    read = (await graphql(cluster, acme, GET, name="branding"))["tenantConfig"]
    assert (read["revision"], read["document"]) == (updated["revision"], updated["document"])
    history = await graphql(
        cluster,
        acme,
        'query { tenantConfigRevisions(name: "branding") { ... on TenantConfigRevisions '
        "{ revisions { revision } } } }",
    )
    revisions = history["tenantConfigRevisions"]["revisions"]
    assert [r["revision"] for r in revisions] == [updated["revision"], first]


async def test_graphql_writing_needs_config_write(cluster: Cluster) -> None:
    auditor = cluster.keys.headers("acme", roles=["auditor"])
    refused = (await graphql(cluster, auditor, PUT, name="locales", doc={}))["putTenantConfig"]
    assert (refused["__typename"], refused["code"]) == ("Forbidden", "forbidden")


async def test_readiness_reports_the_tenant_documents_store(cluster: Cluster) -> None:
    async with cluster.client.get("/readyz") as r:
        assert r.status == 200
        body = await r.json()
    stores = {s["name"]: s["ok"] for s in body["stores"]}
    assert stores["tenantdocs:sqlite"] is True


async def test_a_branding_whose_text_cannot_be_read_is_refused_everywhere(
    cluster: Cluster,
) -> None:
    """Checked by the edge with the colour's pointer, by GraphQL, and by the actor itself;
    a dark theme whose pairs all read is taken."""
    acme = cluster.keys.headers("acme")
    dark = {
        "primary": "#8ab4f8",
        "on_primary": "#0b1b33",
        "background": "#121212",
        "surface": "#1e1e1e",
        "text": "#f0f0f0",
        "accent": "#f6c445",
        "on_accent": "#1b1f24",
        "error": "#f28b82",
    }
    status, stored, etag = await put(
        cluster, BRANDING, {"display_name": "Acme", "colours": dark}, acme, create=True
    )
    assert (status, stored["colours"]) == (201, dark)

    grey = {**dark, "on_primary": "#9ab0d0"}  # 1.4:1 over the primary
    document = {"display_name": "Acme", "colours": grey}
    status, problem, _ = await put(cluster, BRANDING, document, acme, if_match=etag)
    assert (status, problem["errors"][0]["pointer"]) == (422, "#/colours/on_primary")
    assert "contrast" in problem["detail"]

    mutation = (
        'mutation($doc: JSON!, $rev: String) { putTenantConfig(name: "branding", '
        "document: $doc, expectedRevision: $rev) { __typename ... on InvalidInput "
        "{ fields { pointer } } } }"
    )
    variables = {"doc": document, "rev": etag.strip('"') if etag else None}
    async with cluster.client.post(
        "/graphql", json={"query": mutation, "variables": variables}, headers=acme
    ) as r:
        answered = (await r.json())["data"]["putTenantConfig"]
    assert answered == {
        "__typename": "InvalidInput",
        "fields": [{"pointer": "#/document/colours/on_primary"}],
    }

    owner = Principal("ops", roles=("owner",), scopes=(SCOPE_CONFIG_ADMIN,))
    body = b'{"display_name": "Acme", "colours": {"text": "#ffffff"}}'  # white on white
    reply = await cluster.bus.request(
        "acme", "tenant_config", PutDocument("branding", body, None), owner, timeout_s=10
    )
    assert isinstance(reply, Err)
    assert (reply.code, "text over background" in reply.message) == ("invalid_request", True)

    status, now, still = await get(cluster, BRANDING, acme)
    assert (status, now["colours"], still) == (200, dark, etag)
