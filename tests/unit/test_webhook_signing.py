"""Webhook signatures against an independent Standard Webhooks implementation, and the
checks of where webhooks may go."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bus import webhook_signatures as signing
from bus.webhook_urls import is_public, url_problem

BODY = b'{"id":"e1","type":"perkbus.order.fulfilled","data":{"note":"caf\xc3\xa9"}}'


def test_our_signatures_verify_with_the_standard_library_and_theirs_with_ours() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    headers = signing.headers([secret], "msg_1", BODY)
    assert Webhook(secret).verify(BODY, headers)["id"] == "e1"
    now = int(time.time())
    theirs = Webhook(secret).sign("msg_2", datetime.fromtimestamp(now, UTC), BODY.decode())
    signing.verify(
        secret,
        {"Webhook-Id": "msg_2", "Webhook-Timestamp": str(now), "Webhook-Signature": theirs},
        BODY,
    )


def test_a_changed_body_another_secret_or_an_old_timestamp_do_not_verify() -> None:
    secret, other = signing.new_secret(), signing.new_secret()
    headers = signing.headers([secret], "msg_1", BODY)
    for body, key in ((BODY + b" ", secret), (BODY, other)):
        with pytest.raises(WebhookVerificationError):
            Webhook(key).verify(body, headers)
        with pytest.raises(signing.BadSignature):
            signing.verify(key, headers, body)
    old = signing.headers([secret], "msg_1", BODY, timestamp=int(time.time()) - 600)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, old)
    with pytest.raises(signing.BadSignature, match="too far"):
        signing.verify(secret, old, BODY)
    with pytest.raises(signing.BadSignature, match="missing"):
        signing.verify(secret, {}, BODY)


def test_during_a_rotation_each_secret_verifies_on_its_own() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    headers = signing.headers([new, old], "msg_1", BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(BODY, headers)
        signing.verify(secret, headers, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(BODY, headers)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://hooks.example.com/in?x=1", None),
        ("https://93.184.216.34:8443/in", None),
        ("https://[2606:4700::1111]/in", None),
        ("http://hooks.example.com/in", "https URLs only"),
        ("https://localhost/in", "this machine"),
        ("https://api.localhost/in", "this machine"),
        ("https://127.0.0.1/in", "public addresses only"),
        ("https://10.1.2.3/in", "public addresses only"),
        ("https://169.254.169.254/latest/meta-data", "public addresses only"),
        ("https://100.64.0.1/in", "public addresses only"),
        ("https://[::1]/in", "public addresses only"),
        ("https://[::ffff:127.0.0.1]/in", "public addresses only"),
        ("https://[fe80::1]/in", "public addresses only"),
        ("https://0.0.0.0/in", "public addresses only"),
        ("https://224.0.0.1/in", "public addresses only"),
        ("https://user:pw@hooks.example.com/in", "user name"),
        ("https://hooks.example.com/in#frag", "fragment"),
        ("https://hooks.example.com:0/in", "port"),
        ("https://hooks.example.com:99999/in", "not a URL"),
        ("https://[00]/in", "not a URL"),
        # IPv6 forms that carry an IPv4 address reach that address
        ("https://[64:ff9b::7f00:1]/in", "public addresses only"),  # NAT64 of 127.0.0.1
        ("https://[64:ff9b::a9fe:a9fe]/in", "public addresses only"),  # … of 169.254.169.254
        ("https://[64:ff9b:1::a00:5]/in", "public addresses only"),  # local-use NAT64
        ("https://[::7f00:1]/in", "public addresses only"),  # IPv4-compatible
        ("https://[::ffff:0:7f00:1]/in", "public addresses only"),  # IPv4-translated
        ("https://[2002:7f00:1::1]/in", "public addresses only"),  # 6to4 of 127.0.0.1
        ("https://[fec0::1]/in", "public addresses only"),  # site-local
        ("https://[64:ff9b::5db8:d822]/in", None),  # NAT64 of a public address
        # numbers a resolver reads as addresses (127.0.0.1, written short)
        ("https://127.1/in", "written in full"),
        ("https://2130706433/in", "written in full"),
        ("https://0x7f.1/in", "written in full"),
        ("https://0/in", "written in full"),
        ("https://1.2.3.4.example.com/in", None),
    ],
)
def test_webhooks_go_to_public_https_addresses_only(url: str, problem: str | None) -> None:
    found = url_problem(url, allow_private=False)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


def test_private_targets_allow_http_and_this_machine_but_still_a_well_formed_url() -> None:
    assert url_problem("http://127.0.0.1:8080/in", allow_private=True) is None
    assert url_problem("http://localhost/in", allow_private=True) is None
    assert url_problem("https://u:p@127.0.0.1/in", allow_private=True) is not None


def test_public_addresses() -> None:
    assert is_public("93.184.216.34")
    assert is_public("2606:4700::1111")
    for address in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fc00::1", "not an ip"):
        assert not is_public(address), address
