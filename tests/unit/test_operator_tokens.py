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
from edge.auth import ALGORITHM
from perkbus import demo, tokens
from perkbus.cli import _parser
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
