"""Tokens an operator mints act as no one a tenant's admin can add: their subjects are
neither person ids nor API client ids, so no person shares their idempotency keys or, when
changed or disabled, revokes them."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from joserfc import jwt
from joserfc.jwk import OKPKey

from actors.identity import client_id_for
from bus.messages.wallet import PersonId
from bus.scopes import ALL_SCOPES, ROLE_PERMISSIONS
from edge.auth import ALGORITHM
from perkbus import demo, tokens
from perkbus.cli import _parser, main
from perkbus.settings import load


def test_the_cli_mints_for_an_operator_subject_unless_told_otherwise() -> None:
    parser = _parser()
    assert parser.parse_args(["token", "--tenant", "acme"]).subject == tokens.CLI_SUBJECT
    chosen = parser.parse_args(["token", "--tenant", "acme", "--subject", "ann"])
    assert chosen.subject == "ann"  # acting as a person is asked for by name


@pytest.mark.parametrize("subject", [tokens.CLI_SUBJECT, tokens.DEMO_SUBJECT])
def test_an_operator_subject_is_no_persons_id(subject: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert(subject, PersonId)
    assert ":" not in client_id_for("demo", "operator:cli", None)


def test_the_demo_owner_token_acts_as_the_operator(tmp_path: Path) -> None:
    settings = load(env={"PERKBUS_VAR_DIR": str(tmp_path)})
    tokens.ensure_keypair(settings.auth.signing_key_file, settings.edge.jwt_public_key_file)
    path = demo.write_credentials(settings, "http://127.0.0.1:8080")
    token = msgspec.json.decode(path.read_bytes())["token"]
    public = OKPKey.import_key(Path(settings.edge.jwt_public_key_file).read_bytes())
    claims = jwt.decode(token, public, algorithms=[ALGORITHM]).claims
    assert claims["sub"] == tokens.DEMO_SUBJECT
    assert claims["tid"] == demo.TENANT


def test_a_token_without_scopes_gets_what_its_roles_allow() -> None:
    roles, scopes = tokens.token_rights("acme", [], [], [])
    assert roles == ["owner"]
    assert set(scopes) == set(ALL_SCOPES)  # a token of no scope could do nothing at all
    roles, scopes = tokens.token_rights("acme", ["auditor"], [], ["budget:eng"])
    assert set(scopes) == ROLE_PERMISSIONS["auditor"]
    assert tokens.token_rights("acme", ["finance"], ["fx:write", "fx:write"], []) == (
        ["finance"],
        ["fx:write"],
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--role", "wizard"], "unknown role wizard"),
        (["--scope", "budgets:reed"], "unknown scope budgets:reed"),
        (["--role", "auditor", "--scope", "budgets:debit"], "auditor may not use budgets:debit"),
        (["--grant", "eng"], "a grant is budget:<budget id>"),
        (["--ttl", "-5"], "--ttl"),
        (["--ttl", "99999999"], "--ttl"),
    ],
)
def test_the_cli_refuses_a_token_the_edge_would_refuse_or_that_could_do_nothing(
    argv: list[str],
    said: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERKBUS_VAR_DIR", str(tmp_path))
    assert main(["token", "--tenant", "acme", *argv]) == 2
    assert main(["token", "--tenant", "Bad Tenant!"]) == 2
    errors = capsys.readouterr().err
    assert said in errors
    assert "tenant 'Bad Tenant!'" in errors
    assert not (tmp_path / "keys").exists()  # refused before any key was made
