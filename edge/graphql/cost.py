"""A GraphQL document pays the rate limit per top-level field it runs (ADR 15).

The edge takes one token of the caller's bucket per HTTP request. A GraphQL document may
carry many top-level fields (one plain, the rest under aliases, up to the alias limit),
each doing the work of a REST request — a mutation, or a query of a search, a report, a
page of the audit log: each after the first takes a token more, and a document the
bucket cannot pay for runs nothing.
"""

from __future__ import annotations

import json
import math

from aiohttp import web
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    parse,
)

from edge.http import CONFIG, IDENTITY, LIMITER
from edge.problems import problem

JSON = "application/json"


def top_level_fields(document: DocumentNode, operation_name: str | None) -> tuple[bool, int]:
    """(whether the operation run is a mutation, how many fields it runs at the top)."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    chosen = next(
        (
            o
            for o in operations
            if operation_name is None or (o.name and o.name.value == operation_name)
        ),
        None,
    )
    if chosen is None:
        return False, 0

    def count(selections: SelectionSetNode, seen: frozenset[str]) -> int:
        n = 0
        for s in selections.selections:
            if isinstance(s, FieldNode):
                n += 1
            elif isinstance(s, InlineFragmentNode):
                n += count(s.selection_set, seen)
            elif isinstance(s, FragmentSpreadNode) and s.name.value not in seen:
                fragment = fragments.get(s.name.value)
                if fragment is not None:
                    n += count(fragment.selection_set, seen | {s.name.value})
        return n

    return chosen.operation == OperationType.MUTATION, count(chosen.selection_set, frozenset())


async def shape(request: web.Request) -> tuple[bool, int] | None:
    """(whether the operation run is a mutation, its top-level fields) of the request's
    document; None if the body is not one (strawberry answers that)."""
    try:
        body = json.loads(await request.read())
        document = parse(body["query"])
        name = body.get("operationName")
    except (ValueError, RecursionError, TypeError, KeyError, GraphQLError):
        return None
    return top_level_fields(document, name if isinstance(name, str) else None)


async def refusal(request: web.Request, fields: int) -> web.Response | None:
    """429 if the caller's bucket cannot pay for the document's ``fields`` past the first
    (the first was paid at the door); None if it can."""
    config = request.app[CONFIG]
    if config.rate_per_s <= 0 or IDENTITY not in request or fields <= 1:
        return None
    identity = request[IDENTITY]
    key = f"p:{identity.tenant}:{identity.principal.subject}"
    limiter = request.app[LIMITER]
    for _ in range(fields - 1):
        if (wait := await limiter.take(key, config.rate_per_s, config.rate_burst)) > 0:
            return problem(
                429,
                "rate_limited",
                f"{fields} fields in one document count as {fields} requests: more than"
                f" {config.rate_per_s:g} a second (bursts of {config.rate_burst}); retry later",
                retryable=True,
                instance=request.path,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
    return None
