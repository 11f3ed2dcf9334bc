"""The mailer of ``perkbus webhooks`` alone (as Nomad runs it) does not send emails whose
links name this machine's own edge address: with an SMTP server it needs the app's URL."""

from __future__ import annotations

from typing import Any, cast

import pytest

from perkbus.roles import mail_from
from perkbus.settings import app_url, load

SMTP = {"PERKBUS_MAIL_SMTP_URL": "smtp://mail.example.com:587"}


def test_smtp_without_the_apps_address_is_refused_at_start() -> None:
    with pytest.raises(SystemExit, match="PERKBUS_MAIL_APP_URL"):
        mail_from(load(env=SMTP), cast(Any, None))  # refused before the bus is touched


@pytest.mark.parametrize(
    ("env", "links_to"),
    [
        ({"PERKBUS_MAIL_APP_URL": "https://rewards.example.com"}, "https://rewards.example.com"),
        ({"PERKBUS_EDGE_PUBLIC_URL": "https://r.example.com/"}, "https://r.example.com"),
        ({"PERKBUS_EDGE_PORT": "9090"}, "http://127.0.0.1:9090"),  # perkbus up, no SMTP
    ],
)
def test_the_apps_address_comes_from_the_settings(env: dict[str, str], links_to: str) -> None:
    assert app_url(load(env=env)) == links_to
