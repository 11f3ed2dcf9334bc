"""Voucher pools over REST and GraphQL: one suite over both APIs."""

from __future__ import annotations

import pytest

from storage.ports import CatalogueStore
from tests.conftest import Cluster
from tests.integration.api import BudgetApi, GraphQL, Rest
from tests.support import gift_card

CSV = """code,pin,url,expires_at
GIFT-0001,1111,https://redeem.example/GIFT-0001,2099-01-01T00:00:00Z
GIFT-0002,2222,,
GIFT-0001,9999,,
x,,,
GIFT-0003,,,2001-01-01T00:00:00Z
"""


@pytest.fixture(params=["rest", "graphql"])
def api(request: pytest.FixtureRequest, cluster: Cluster) -> BudgetApi:
    return Rest(cluster.client) if request.param == "rest" else GraphQL(cluster.client)


async def test_import_a_csv_row_by_row(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    report = (await api.import_csv(acme, "card-de", 2500, "EUR", CSV)).value
    assert report == {
        "imported": 2,
        "rejected": [
            {"row": 2, "reason": "duplicate"},
            {"row": 3, "reason": "invalid code: 4 to 128 visible characters"},
            {"row": 4, "reason": "expired"},
        ],
        "pool": {"product_id": "card-de", "face_value_minor": 2500, "available": 2, "allocated": 0},
    }
    again = (await api.import_csv(acme, "card-de", 2500, "EUR", CSV)).value
    assert again is not None
    assert again["imported"] == 0
    pool = (await api.pool(acme, "card-de", 2500)).value
    assert pool == {
        "product_id": "card-de",
        "face_value_minor": 2500,
        "available": 2,
        "allocated": 0,
    }
    other = (await api.pool(cluster.keys.headers("globex"), "card-de", 2500)).value
    assert other is not None
    assert other["available"] == 0


async def test_generate_closed_loop_codes(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    report = (await api.generate(acme, "acme-voucher", 1000, "EUR", 50)).value
    assert report is not None
    assert report["imported"] == 50
    assert report["pool"]["available"] == 50


async def test_bad_imports_are_refused(api: BudgetApi, cluster: Cluster) -> None:
    acme = cluster.keys.headers("acme")
    bad_header = await api.import_csv(acme, "card-de", 2500, "EUR", "voucher\nABCD-1234\n")
    assert bad_header.code == "invalid_request"
    bad_currency = await api.import_csv(acme, "card-de", 2500, "euro", CSV)
    assert bad_currency.code == "invalid_request"
    assert bad_currency.pointer == "#/currency"
    bad_date = await api.import_csv(acme, "card-de", 2500, "EUR", "code,expires_at\nABCD-1,soon\n")
    assert bad_date.code == "invalid_request"
    assert bad_date.pointer == "#/codes/0/expires_at"
    # where a code is redeemed is an https page: not a script, data or plain http
    for url in ("javascript:alert(1)", "data:text/html,hi", "http://redeem.example/x"):
        bad_url = await api.import_csv(acme, "card-de", 2500, "EUR", f'code,url\nABCD-3,"{url}"\n')
        assert (bad_url.code, bad_url.pointer) == ("invalid_request", "#/codes/0/url"), url
    # a moment past what UTC can hold (9999-12-31 at -14:00): refused, not a 500
    far = "code,expires_at\nABCD-2,9999-12-31T23:59:59-14:00\n"
    too_far = await api.import_csv(acme, "card-de", 2500, "EUR", far)
    assert (too_far.code, too_far.pointer) == ("invalid_request", "#/codes/0")
    assert (await api.pool(acme, "Bad Product!", 2500)).code == "not_found"
    assert (await api.generate(acme, "card-de", 2500, "EUR", 0)).code == "invalid_request"
    reader = cluster.keys.headers("acme", ["vouchers:read"])
    assert (await api.generate(reader, "card-de", 2500, "EUR", 1)).code == "forbidden"
    assert (await api.pool(reader, "card-de", 2500)).value is not None


async def test_a_file_that_is_not_csv_is_refused(api: BudgetApi, cluster: Cluster) -> None:
    """Found by the fuzzer: a line break inside an unquoted field made the CSV reader
    raise (an internal error); and a row longer than the header was named by the
    reader's stand-in key, not by its number."""
    acme = cluster.keys.headers("acme")
    broken = await api.import_csv(acme, "card-de", 2500, "EUR", "code\nGIFT-0001\rGIFT-2\n")
    assert broken.code == "invalid_request"
    long_row = await api.import_csv(acme, "card-de", 2500, "EUR", "code\nGIFT-0001,1111\n")
    assert (long_row.code, long_row.pointer) == ("invalid_request", "#/codes/0")
    pool = (await api.pool(acme, "card-de", 2500)).value
    assert pool is not None
    assert (pool["available"], pool["allocated"]) == (0, 0)


async def test_codes_must_fit_a_listed_product(
    api: BudgetApi, cluster: Cluster, catalogue: CatalogueStore
) -> None:
    """Codes for a product the catalogue lists are in its currency and at a face value it
    is sold at (else no order would ever draw them, or a EUR order would get USD codes);
    a product not listed yet may be stocked first."""
    await catalogue.put_products([gift_card()])  # card-de: EUR, 25.00 only
    acme = cluster.keys.headers("acme")
    dollars = await api.generate(acme, "card-de", 2500, "USD", 5)
    assert dollars.code == "currency_mismatch"
    elsewhere = await api.import_csv(acme, "card-de", 1000, "EUR", "code\nGIFT-0001\n")
    assert elsewhere.code == "invalid_request"
    pool = (await api.pool(acme, "card-de", 2500)).value
    assert pool is not None
    assert pool["available"] == 0
    assert (await api.generate(acme, "card-de", 2500, "EUR", 5)).value is not None
    assert (await api.generate(acme, "not-listed-yet", 700, "USD", 5)).value is not None
