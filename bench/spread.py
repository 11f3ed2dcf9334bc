"""Prepare the "spread" burst: N tenants with one budget each, and a wrk script that
debits a random one per request. Run against a `perkbus up --demo` started in this folder:

    .venv/bin/python bench/spread.py --tenants 1000 > /tmp/spread.lua
    wrk -t2 -c256 -d10s --latency -s /tmp/spread.lua http://127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
import json

import aiohttp

from perkbus import settings, tokens


async def open_budgets(base_url: str, bearer: list[str]) -> None:
    body = {"id": "b", "name": "Spread", "initial": {"amount_minor": 10**12, "currency": "EUR"}}
    limit = asyncio.Semaphore(64)
    async with aiohttp.ClientSession() as session:

        async def one(token: str) -> None:
            async with limit:
                headers = {"Authorization": f"Bearer {token}"}
                url = f"{base_url}/api/v1/budgets"
                async with session.post(url, json=body, headers=headers) as r:
                    if r.status not in (201, 409):
                        raise SystemExit(f"opening a budget failed: {r.status} {await r.text()}")

        await asyncio.gather(*(one(t) for t in bearer))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--base-url", default="http://127.0.0.1:8080")
    args = parser.parse_args()
    s = settings.load()
    bearer = [
        tokens.mint(
            s.auth.signing_key_file,
            tenant=f"bench-{i}",
            subject="bench",
            scopes=["budgets:debit", "budgets:admin"],
            roles=[],
            ttl_s=3600,
            issuer=s.edge.jwt_issuer,
            audience=s.edge.jwt_audience,
        )
        for i in range(args.tenants)
    ]
    asyncio.run(open_budgets(args.base_url, bearer))
    print("local tokens = " + json.dumps(bearer).replace("[", "{").replace("]", "}"))
    print(
        """
local body = '{"amount":{"amount_minor":1,"currency":"EUR"}}'
request = function()
  local token = tokens[math.random(#tokens)]
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}
  return wrk.format("POST", "/api/v1/budgets/b/debits", headers, body)
end"""
    )


if __name__ == "__main__":
    main()
