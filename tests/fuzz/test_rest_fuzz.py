"""Schema-driven fuzzing of the REST API (issue 4): schemathesis reads the OpenAPI
document the live edge serves and generates requests for every operation in it, valid
ones and ones that break the schema (wrong types, missing fields, huge numbers, odd
unicode, malformed ids and headers), sent with an owner's token (every scope).

Every answer must be:

- never a 5xx;
- when it is a 4xx, an RFC 9457 ``application/problem+json`` body with the fields the
  project uses (``type`` naming a stable ``code``, ``title``, ``status`` equal to the
  HTTP status);
- documented: its status and content type are in the operation's responses, and a
  success matches the operation's response schema (schemathesis's conformance checks);
- a refusal when the request breaks the document's schema (the edge accepts nothing
  the document says it refuses);
- free of the other tenant's data.

A refused request to an operation that writes changes nothing: every business table of
the ledger and the catalogue is the same before and after it.

Generation is derandomized (the same requests on every run) and bounded per operation,
so the file runs in about a minute.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode, Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from edge.openapi_paths import PATHS
from edge.problems import PROBLEM_JSON, TITLES
from tests.fuzz.live import LiveSystem, Snapshot, changed, leaked, live_system

OPERATIONS = [
    pytest.param(method.upper(), path, id=f"{method.upper()} {path}")
    for path, operations in PATHS.items()
    for method in operations
]
#: Requests per operation; PERKBUS_FUZZ_EXAMPLES asks for a deeper (slower) run.
EXAMPLES = int(os.environ.get("PERKBUS_FUZZ_EXAMPLES", "30"))
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code", "retryable", "instance", "errors"}
OAUTH_FIELDS = {"error", "error_description"}

Operation = APIOperation[Any, Any, Any, Any]
FuzzCase = Case[Operation]

_keys = itertools.count()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    with live_system(tmp_path_factory.mktemp("rest-fuzz")) as system:
        yield system


@pytest.fixture(scope="module")
def schema(live: LiveSystem) -> BaseSchema:
    """The document the edge serves, as a client would fetch it."""
    loaded = schemathesis.openapi.from_url(f"{live.base_url}/api/v1/openapi.json")
    # Tokens are the access matrix test's business (tests/integration/test_access_matrix):
    # here every request carries a valid owner token, so that the generated inputs
    # reach validation and the actors.
    loaded.config.generation.update(with_security_parameters=False)
    return loaded


def cases(operation: Operation) -> st.SearchStrategy[FuzzCase]:
    """Valid and invalid requests; an operation without parameters or body has no
    invalid request to make (schemathesis has nothing to break)."""
    positive = operation.as_strategy(GenerationMode.POSITIVE)
    inputs = (operation.path_parameters, operation.query, operation.headers, operation.body)
    if not any(len(part) for part in inputs):
        return positive
    return st.one_of(positive, operation.as_strategy(GenerationMode.NEGATIVE))


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_fuzzed_requests_get_documented_answers_and_refusals_change_nothing(
    live: LiveSystem, schema: BaseSchema, method: str, path: str
) -> None:
    operation = schema[path][method]
    writes = method in WRITES
    quiet: list[Snapshot] = []  # the state after the last write, when it passed

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases(operation))
    def fuzz(case: FuzzCase) -> None:
        headers = dict(live.owner)
        if "Idempotency-Key" not in (case.headers or {}):
            headers["Idempotency-Key"] = f"fuzz-{next(_keys)}"
        # A failed example (shrinking) left none: then read it.
        before = (quiet.pop() if quiet else live.settled()) if writes else None
        response = case.call(base_url=live.base_url, headers=headers)
        status = response.status_code
        assert status < 500, describe(case, response)
        sent = repr((case.path_parameters, case.query, case.body, case.headers))
        assert not leaked(sent, response.text), describe(case, response)
        if status >= 400:
            check_problem(case, response)
        case.validate_response(response, checks=CHECKS)
        if writes:
            after = live.settled()
            if status >= 400:
                assert before is not None  # (writes)
                assert not changed(before, after), describe(case, response)
            quiet.append(after)

    fuzz()


def check_problem(case: FuzzCase, response: Response) -> None:
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.split(";")[0] == PROBLEM_JSON, describe(case, response)
    body: dict[str, Any] = json.loads(response.content)
    # the token endpoint's problems carry RFC 6749's own fields too, for OAuth clients
    fields = PROBLEM_FIELDS | (OAUTH_FIELDS if case.path == "/oauth/token" else set())
    assert set(body) <= fields, describe(case, response)
    assert body["status"] == response.status_code, describe(case, response)
    if set(body) & OAUTH_FIELDS:  # RFC 6749's error codes, as the token endpoint names them
        assert body["code"] == body["error"], describe(case, response)
        return
    assert body["code"] in TITLES, describe(case, response)
    assert body["type"] == f"https://perkbus.dev/problems/{body['code'].replace('_', '-')}"
    assert body["title"] == TITLES[body["code"]]


def describe(case: FuzzCase, response: Response) -> str:
    return f"{case.as_curl_command()}\n→ {response.status_code} {response.text[:500]}"


def test_the_snapshot_sees_a_write_and_not_a_refusal(live: LiveSystem) -> None:
    """The check the fuzzer relies on: a refused debit leaves every table as it was, a
    debit that is carried out changes the budget's account."""
    before = live.settled()
    debits = "/api/v1/budgets/demo-budget/debits"
    for amount, status in ((-1, 422), (10**12, 409)):
        body = {"amount": {"amount_minor": amount, "currency": "EUR"}}
        assert live.send("POST", debits, live.owner, body).status == status
        assert not changed(before, live.settled())
    body = {"amount": {"amount_minor": 1, "currency": "EUR"}}
    assert live.send("POST", debits, live.owner, body).status == 201
    assert "ledger.sqlite3:accounts" in changed(before, live.settled())
