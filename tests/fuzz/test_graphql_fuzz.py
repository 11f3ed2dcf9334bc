"""Fuzzing the GraphQL API (issue 4): for every query and mutation field of the schema,
Hypothesis generates its arguments from their GraphQL input types (read from the schema
itself) with hostile values: unicode and control characters, empty and very long
strings, huge and negative numbers, digits that are not ASCII, wrong currencies,
malformed ids and Idempotency-Keys, nulls where a value is required, values of the
wrong type. Known ids of the seeded tenant are mixed in, so that requests get past
"not found" to the actors' own rules.

Every answer must be:

- never a 5xx, and JSON;
- either a clean request error (the document or its variables do not fit the schema:
  no ``data``, no ``path``: nothing was executed), or data whose field is the success
  type or one of the error union's types with a stable code;
- never an execution error (an ``errors`` entry with a ``path``): that is a resolver
  that raised, whose message would leak an internal exception;
- free of the other tenant's data.

A mutation answered with an error type or a request error changes nothing: every
business table of the ledger and the catalogue is the same before and after it.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pytest
from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    Undefined,
    build_schema,
)
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from bus.errors import ErrorCode
from edge.graphql import schema as strawberry_schema
from edge.problems import PROBLEM_JSON, TITLES
from tests.fuzz.live import (
    OTHER_MARKER,
    OTHER_TENANT,
    LiveSystem,
    Snapshot,
    changed,
    leaked,
    live_system,
)

SCHEMA: GraphQLSchema = build_schema(strawberry_schema.as_str())
EXAMPLES = int(os.environ.get("PERKBUS_FUZZ_EXAMPLES", "30"))
ERROR_TYPES = {
    "NotFound",
    "InsufficientFunds",
    "InvalidInput",
    "Conflict",
    "Forbidden",
    "Unavailable",
}
CODES = {code.value for code in ErrorCode}


def _fields(kind: GraphQLObjectType | None) -> list[tuple[str, str]]:
    assert kind is not None
    return [(kind.name, name) for name in kind.fields]


FIELDS = _fields(SCHEMA.query_type) + _fields(SCHEMA.mutation_type)

# -- values -------------------------------------------------------------------------

#: Ids of the seeded tenant (tests/fuzz/live.py) and of the other one, so that some
#: requests reach a real budget, account, product, pool or person.
KNOWN_IDS = [
    "demo-budget",
    "f1",
    "ann@demo.example",
    "raj@demo.example",
    "demo-team-day",
    f"{OTHER_MARKER}-budget",
    f"{OTHER_MARKER}-f",
    OTHER_MARKER,
]
ODD_TEXT = [
    "",
    " ",
    "\x00",
    "\u202e",
    "NaN",
    "Infinity",
    "-0",
    "1e309",
    "\u0663",  # ARABIC-INDIC DIGIT THREE
    "\U0001d7d8",  # MATHEMATICAL DOUBLE-STRUCK DIGIT ZERO
    "null",
    "../../etc/passwd",
    "' OR 1=1 --",
    "<script>",
    "a" * 300,
]
CURRENCIES = ["EUR", "USD", "GBP", "PTS", "XXX", "eur", "EURO", "€", "E U"]
HUGE = [2**31, -(2**31) - 1, 2**53 + 1, 2**62 + 1, 2**63, 2**64, -(2**64), 10**30]

#: The ids of the webhook endpoints there are (random, and fuzzed mutations make and delete
#: them): read from the live system before each test, mixed in like KNOWN_IDS.
WEBHOOK_IDS: list[str] = []


def _webhook_id(n: int) -> str:
    return WEBHOOK_IDS[n % len(WEBHOOK_IDS)] if WEBHOOK_IDS else KNOWN_IDS[0]


webhook_ids = st.integers(0, 99).map(_webhook_id)
texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ODD_TEXT),
    st.sampled_from(KNOWN_IDS),
    st.sampled_from(CURRENCIES),
    st.text(min_size=200, max_size=2_000),
)
int32 = st.one_of(st.integers(-(2**31), 2**31 - 1), st.sampled_from([0, -1, 1, 100, 10_000]))
amounts = st.one_of(
    st.integers(-1_000, 1_000_000),
    st.sampled_from(HUGE),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.from_regex(r"-?[0-9]{1,25}", fullmatch=True),
    st.sampled_from(["1_000", " 12 ", "١٢٣", "0x10", "1e3", "12.5", "", "9" * 5_000]),
)
#: Any JSON value: what a client sends when it gets a type wrong.
anything = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=5,
)


def currency_like(name: str) -> bool:
    return name.lower() in ("currency", "base", "quote")


def scalar_values(kind: GraphQLScalarType, name: str) -> st.SearchStrategy[Any]:
    if kind.name in ("String", "ID"):
        if currency_like(name):
            return st.one_of(st.sampled_from(CURRENCIES), texts)
        if name in ("id", "webhookId"):
            return st.one_of(webhook_ids, texts)
        if name == "idempotencyKey":
            return st.one_of(
                st.uuids().map(lambda u: f"fuzz-{u.hex}"), st.sampled_from(ODD_TEXT), texts
            )
        return texts
    if kind.name == "Int":
        return st.one_of(int32, st.sampled_from(HUGE))
    if kind.name == "Long" and name == "deliveryId":  # the live system's are small
        return st.one_of(st.integers(1, 200), amounts)
    if kind.name in ("MinorUnits", "Long"):  # both read the same way (edge.graphql.common)
        return amounts
    if kind.name == "Boolean":
        return st.booleans()
    if kind.name == "Float":
        return st.floats(allow_nan=False)
    return anything


def values(kind: GraphQLInputType, name: str, sloppy: bool) -> st.SearchStrategy[Any]:
    """Values of an input type; ``sloppy`` ones may not fit it (null for a required
    value, any JSON value instead of the expected one)."""
    if isinstance(kind, GraphQLNonNull):
        typed = _values(kind.of_type, name, sloppy)
        return st.one_of(typed, st.none(), anything) if sloppy else typed
    return st.one_of(st.none(), _values(kind, name, sloppy))


def _values(kind: GraphQLInputType, name: str, sloppy: bool) -> st.SearchStrategy[Any]:
    if isinstance(kind, GraphQLNonNull):
        return values(kind, name, sloppy)
    if isinstance(kind, GraphQLList):
        return st.lists(values(kind.of_type, name, sloppy), max_size=4)
    if isinstance(kind, GraphQLInputObjectType):
        return _object(kind.fields, sloppy)
    if isinstance(kind, GraphQLEnumType):
        return st.one_of(st.sampled_from(list(kind.values)), texts)
    assert isinstance(kind, GraphQLScalarType), kind
    return scalar_values(kind, name)


def _object(
    fields: Mapping[str, GraphQLArgument | GraphQLInputField], sloppy: bool
) -> st.SearchStrategy[dict[str, Any]]:
    """Required fields always (or, when sloppy, sometimes not), optional ones sometimes."""
    required = {
        name: values(spec.type, name, sloppy)
        for name, spec in fields.items()
        if isinstance(spec.type, GraphQLNonNull) and spec.default_value is Undefined
    }
    optional = {
        name: values(spec.type, name, sloppy)
        for name, spec in fields.items()
        if name not in required
    }
    if sloppy:
        return st.fixed_dictionaries({}, optional=required | optional)
    return st.fixed_dictionaries(required, optional=optional)


def arguments(field: GraphQLField) -> st.SearchStrategy[dict[str, Any]]:
    """The variables of one call: half well typed (so that they reach the resolver and
    the actors), half sloppy (so that they test the schema's own checks)."""
    return st.one_of(_object(field.args, sloppy=False), _object(field.args, sloppy=True))


# -- documents ----------------------------------------------------------------------


def selection(kind: GraphQLOutputType, depth: int = 0) -> str:
    """Every field of the result that takes no argument, a few levels deep (so that
    nested resolvers and scalars' serializers run too)."""
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    if isinstance(kind, GraphQLUnionType):
        fragments = " ".join(f"... on {t.name} {selection(t, depth)}" for t in kind.types)
        return f"{{ __typename {fragments} }}"
    if isinstance(kind, GraphQLObjectType | GraphQLInterfaceType):
        if depth >= 3:
            return "{ __typename }"
        leaves = [
            name + (selection(spec.type, depth + 1) if _is_composite(spec.type) else "")
            for name, spec in kind.fields.items()
            if not any(isinstance(a.type, GraphQLNonNull) for a in spec.args.values())
        ]
        return "{ " + " ".join(leaves) + " }"
    return ""


def _is_composite(kind: GraphQLOutputType) -> bool:
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return isinstance(kind, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)


def document(operation: str, name: str, given: Iterable[str]) -> str:
    """The call of one field with the arguments ``given`` (as variables); the others
    take their defaults."""
    root = SCHEMA.query_type if operation == "Query" else SCHEMA.mutation_type
    assert root is not None
    field = root.fields[name]
    args = [arg for arg in field.args if arg in given]
    declared = ", ".join(f"${arg}: {field.args[arg].type}" for arg in args)
    passed = ", ".join(f"{arg}: ${arg}" for arg in args)
    head = "query" if operation == "Query" else "mutation"
    variables = f"({declared})" if declared else ""
    call = f"{name}({passed})" if passed else name
    return f"{head} Fuzz{variables} {{ {call} {selection(field.type)} }}"


# -- the test -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    with live_system(tmp_path_factory.mktemp("graphql-fuzz")) as system:
        yield system


@pytest.fixture(autouse=True)
def webhooks_now(live: LiveSystem) -> None:
    """The webhook endpoints of both tenants, as the fuzzing left them."""
    WEBHOOK_IDS[:] = [
        hook["id"]
        for headers in (live.owner, live.keys.headers(OTHER_TENANT))
        for hook in json.loads(live.send("GET", "/api/v1/webhooks", headers).body)["webhooks"]
    ]


@pytest.mark.parametrize(("operation", "name"), FIELDS, ids=[f"{o} {n}" for o, n in FIELDS])
def test_fuzzed_arguments_get_a_result_or_a_clean_error_and_refusals_change_nothing(
    live: LiveSystem, operation: str, name: str
) -> None:
    root = SCHEMA.query_type if operation == "Query" else SCHEMA.mutation_type
    assert root is not None
    field = root.fields[name]
    writes = operation == "Mutation"
    quiet: list[Snapshot] = []  # the state after the last write, when it passed
    outcomes: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(variables=arguments(field))
    def fuzz(variables: dict[str, Any]) -> None:
        # A failed example (shrinking) left none: then read it.
        before = (quiet.pop() if quiet else live.settled()) if writes else None
        query = document(operation, name, variables)
        body = {"query": query, "variables": variables}
        reply = live.send("POST", "/graphql", live.owner, body)
        what = f"{query}\n{json.dumps(variables)[:500]}\n→ {reply.status} {reply.body[:800]!r}"
        assert reply.status < 500, what
        assert not leaked(json.dumps(variables), reply.body.decode()), what
        answer = json.loads(reply.body)
        outcome = check(answer, name, reply.status, what)
        outcomes[outcome] += 1
        refused = outcome != "result"
        if writes:
            after = live.settled()
            if refused:
                assert before is not None  # (writes)
                assert not changed(before, after), what
            quiet.append(after)

    fuzz()
    # The fuzzer got past the schema's own checks: some calls reached the resolver.
    assert outcomes["result"] + outcomes["error type"] > 0, outcomes


def check(answer: dict[str, Any], name: str, status: int, what: str) -> str:
    """ "result", "error type" (the field's union says why it refused) or "request error"
    (the document or its variables do not fit the schema); fails on any other answer."""
    errors = answer.get("errors") or []
    for error in errors:
        assert "path" not in error, f"a resolver raised: {error}\n{what}"
        assert "Traceback" not in error.get("message", ""), what
    if errors:
        assert answer.get("data") is None, what
        return "request error"
    assert status == 200, what
    result = answer["data"][name]
    if result["__typename"] in ERROR_TYPES:
        assert result["code"] in CODES, what
        assert result["message"], what
        return "error type"
    return "result"


# -- whole requests -----------------------------------------------------------------

#: Documents of every kind: valid calls, fragments of them, GraphQL syntax, any text.
queries = st.one_of(
    st.sampled_from([document(o, n, ()) for o, n in FIELDS]),
    st.sampled_from(["{ __typename }", "{", "query { }", "mutation { x }", "{ a: fxRates }"]),
    st.text(alphabet=st.sampled_from('{}()[]:$!@.,# \n"abcdefghijklmnopqrstuvwxyz'), max_size=80),
    st.text(max_size=60),
)
requests = st.fixed_dictionaries(
    {},
    optional={
        "query": st.one_of(queries, anything),
        "variables": st.one_of(st.dictionaries(st.text(max_size=8), anything), anything),
        "operationName": st.one_of(st.text(max_size=10), anything),
        "extensions": anything,
    },
)
bodies = st.one_of(
    requests.map(lambda r: json.dumps(r).encode()),
    anything.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"", b"{", b"[]", b"[{}]", b"{" * 200, b'{"query": 1e999}', b"\xff"]),
)
content_types = st.sampled_from(
    ["application/json", "application/graphql+json", "text/plain", "multipart/form-data", ""]
)


def test_fuzzed_request_bodies_get_graphql_answers_or_problem_details(live: LiveSystem) -> None:
    """Whole requests that may not be GraphQL at all: a 200 is a GraphQL answer (a
    result or clean request errors), anything else is problem details, never a 5xx."""
    before = live.settled()
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES * 10,  # cheap: most never reach a resolver
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(body=bodies, content_type=content_types)
    def fuzz(body: bytes, content_type: str) -> None:
        headers = live.owner | ({"Content-Type": content_type} if content_type else {})
        reply = live.send_bytes("POST", "/graphql", headers, body)
        what = f"{content_type}: {body[:300]!r}\n→ {reply.status} {reply.body[:500]!r}"
        assert reply.status < 500, what
        statuses[reply.status] += 1
        answer = json.loads(reply.body)
        if reply.status == 200:
            assert reply.content_type == "application/json", what
            for error in answer.get("errors") or []:
                assert "path" not in error, f"a resolver raised: {error}\n{what}"
        else:
            assert reply.content_type == PROBLEM_JSON, what
            assert (answer["status"], answer["code"] in TITLES) == (reply.status, True), what

    fuzz()
    assert statuses[200] > 0, statuses  # some were GraphQL requests
    assert statuses.total() > statuses[200], statuses  # and some were not
    # Mutations may have been called with well-formed documents but no variables: all
    # are refused for missing arguments, so nothing changed.
    assert not changed(before, live.settled())
