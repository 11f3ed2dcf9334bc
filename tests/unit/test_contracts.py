"""Subjects, message contracts and settings."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from bus import subjects
from bus.errors import ErrorCode
from bus.messages import Err, Ok, Request, encoder, reply_decoder, request_decoder
from bus.messages.budget import BudgetView, DebitBudget, GetBudget
from bus.messages.common import Money, Principal
from perkbus.settings import SettingsError, load


def test_subjects_are_built_from_checked_tokens() -> None:
    assert subjects.rpc("acme", "budget") == "pb.rpc.acme.budget"
    assert subjects.event("acme", "budget", "debited") == "pb.evt.acme.budget.debited"
    assert subjects.events_of_tenant("acme") == "pb.evt.acme.>"
    assert subjects.partition_subscription(7) == "pb.rpcp.7.>"
    assert subjects.parse_partitioned("pb.rpcp.7.acme.budget") == (7, "acme", "budget")
    for bad in ("a.b", "*", ">", "", "Acme", "a b", "x" * 64, "acme\n"):
        with pytest.raises(subjects.InvalidToken):
            subjects.rpc(bad, "budget")
    with pytest.raises(subjects.InvalidToken):
        subjects.parse_partitioned("pb.rpc.acme.budget")


def test_partition_mapping_names_the_partition_count() -> None:
    source, destination = subjects.partition_mapping(64)
    assert source == "pb.rpc.*.*"
    assert destination == "pb.rpcp.{{partition(64,1)}}.{{wildcard(1)}}.{{wildcard(2)}}"


def test_requests_and_replies_round_trip() -> None:
    request = Request(
        tenant="acme",
        principal=Principal("u1", ("owner",), ("budgets:read",)),
        request_id="r1",
        deadline_ms=123,
        body=DebitBudget("b1", "d1", Money(5, "EUR"), "memo"),
        idempotency_key="k1",
    )
    assert request_decoder.decode(encoder.encode(request)) == request
    ok = Ok(BudgetView("b1", "B", Money(1, "JPY"), 3))
    assert reply_decoder.decode(encoder.encode(ok)) == ok
    err = Err.of(ErrorCode.DEADLINE_EXCEEDED, "late")
    assert err.retryable
    assert not Err.of(ErrorCode.INSUFFICIENT_FUNDS, "no").retryable
    assert reply_decoder.decode(encoder.encode(err)) == err


def test_contracts_reject_bad_money_and_ids() -> None:
    def decode(body: object) -> Request:
        raw = msgspec.msgpack.encode(
            {
                "tenant": "acme",
                "principal": {"subject": "u"},
                "request_id": "r",
                "deadline_ms": 1,
                "body": body,
            }
        )
        return request_decoder.decode(raw)

    assert isinstance(decode({"type": "budget.get", "budget_id": "b1"}).body, GetBudget)
    for body in (
        {"type": "budget.get", "budget_id": "../etc"},
        {"type": "budget.get", "budget_id": "b1\n"},
        {
            "type": "budget.debit",
            "budget_id": "b1",
            "debit_id": "d",
            "amount": {"amount_minor": 1, "currency": "EUR\n"},
        },
        {
            "type": "budget.debit",
            "budget_id": "b1",
            "debit_id": "d",
            "amount": {"amount_minor": 1.5, "currency": "EUR"},
        },
        {
            "type": "budget.debit",
            "budget_id": "b1",
            "debit_id": "d",
            "amount": {"amount_minor": 1, "currency": "euro"},
        },
        {"type": "budget.nope"},
    ):
        with pytest.raises(msgspec.ValidationError):
            decode(body)


def test_settings_from_defaults_file_and_environment(tmp_path: Path) -> None:
    defaults = load(env={})
    assert defaults.nats.url is None
    assert defaults.mysql.url is None
    assert defaults.edge.port == 8080
    assert defaults.nats.partitions == 64

    config = tmp_path / "perkbus.toml"
    config.write_text('[edge]\nport = 9000\nhost = "0.0.0.0"\n[actors]\nbatch_max = 64\n')
    settings = load(
        config,
        env={
            "PERKBUS_EDGE_PORT": "9100",
            "PERKBUS_NATS_URL": "nats://10.0.0.1:4222",
            "PERKBUS_MYSQL_URL": "mysql://u:p@db:3306/perkbus",
            "PERKBUS_ACTORS_PARTITIONS": "0, 1,5",
            "PERKBUS_REQUIRE_REAL": "1",
            "PERKBUS_TEST_MYSQL_URL": "ignored",
        },
    )
    assert settings.edge.port == 9100
    assert settings.edge.host == "0.0.0.0"
    assert settings.actors.batch_max == 64
    assert settings.actors.partitions == (0, 1, 5)
    assert settings.nats.url == "nats://10.0.0.1:4222"
    assert settings.mysql.url == "mysql://u:p@db:3306/perkbus"
    with pytest.raises(AttributeError):
        settings.edge.port = 1  # type: ignore[misc]


def test_paths_follow_the_var_dir() -> None:
    settings = load(env={"PERKBUS_VAR_DIR": "/srv/perkbus", "PERKBUS_SQLITE_PATH": "/db/x.db"})
    assert settings.nats.data_dir == "/srv/perkbus/nats"
    assert settings.auth.signing_key_file == "/srv/perkbus/keys/jwt-signing.pem"
    assert settings.edge.jwt_public_key_file == "/srv/perkbus/keys/jwt-signing.pub.pem"
    assert settings.sqlite.path == "/db/x.db"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PERKBUS_EDGE_PORTT": "1"}, "PERKBUS_EDGE_PORTT is not a setting"),
        ({"PERKBUS_BOGUS_X": "1"}, "PERKBUS_BOGUS_X is not a setting"),
        ({"PERKBUS_EDGE_PORT": "eighty"}, "invalid settings"),
    ],
)
def test_settings_errors_are_clear(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load(env=env)


def test_unreadable_settings_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[edge\n")
    with pytest.raises(SettingsError, match="cannot read settings file"):
        load(bad, env={})


def test_the_documented_permissions_are_the_enforced_ones() -> None:
    from bus.scopes import ROLE_PERMISSIONS

    table = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"
    documented = {}
    for line in table.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            documented[cells[0].strip("`")] = frozenset(
                p.strip().strip("`") for p in cells[2].split(",")
            )
    assert documented == ROLE_PERMISSIONS
