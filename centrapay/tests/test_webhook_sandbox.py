"""WebhookVerifier against the sandbox's real JWKS and its signed deliveries."""

import json
import time
from decimal import Decimal

import pytest
import requests

from centrapay.client import CentrapayClient
from centrapay.errors import WebhookVerificationError
from centrapay.tests.notification_dedupe import NotificationDeduplicator
from centrapay.webhook import WebhookVerifier

AUD = "https://pos.example.com/centrapay/webhook"
BODY = json.dumps(
    {"id": "n-1", "type": "payment-request:paid", "data": {}, "accountId": "a"}
).encode()


@pytest.fixture
def session():
    with requests.Session() as s:
        s.trust_env = False  # loopback only, never through a proxy
        yield s


def jwks_fetches(control):
    return [c for c in control.calls() if c["path"].endswith("/jwks.json")]


def rejected(verifier, header, body=BODY):
    with pytest.raises(WebhookVerificationError) as info:
        verifier.verify(header, body)
    return info.value.code


def test_sandbox_signed_tokens(sandbox, control, session):
    verifier = WebhookVerifier(sandbox.jwks_url, AUD, session=session)
    token = control.sign(BODY, AUD)
    assert verifier.verify(token, BODY)["id"] == "n-1"
    assert verifier.verify("Bearer " + token, BODY)["type"] == "payment-request:paid"
    assert rejected(verifier, token, BODY + b"\n") == "body_hash_mismatch"
    assert rejected(verifier, control.sign(BODY, "https://other.example")) == (
        "wrong_audience"
    )
    now = int(time.time())
    assert rejected(
        verifier, control.sign(BODY, AUD, iat=now - 900, exp=now - 600)
    ) == ("expired")
    # The sandbox serves Cache-Control: max-age=300, so one fetch serves all.
    assert len(jwks_fetches(control)) == 1


def test_delivered_notifications_verify_and_dedupe(sandbox, control, receiver, session):
    control.set_webhook(receiver.url, duplicate=True)
    verifier = WebhookVerifier(sandbox.jwks_url, receiver.url, session=session)
    client = CentrapayClient(sandbox.base_url, sandbox.api_key, session=session)
    pr = client.create_payment_request(
        config_id=sandbox.merchant_config_id,
        amount=Decimal("5.00"),
        currency="NZD",
        external_ref="webhook-1",
    )
    control.pay(pr["id"])
    deliveries = receiver.wait(2)
    assert len(deliveries) == 2  # the same notification, delivered twice

    dedupe = NotificationDeduplicator()
    seen = []
    for delivery in deliveries:
        notification = verifier.verify(
            delivery["headers"]["Authorization"], delivery["body"]
        )
        assert notification["type"] == "payment-request:paid"
        assert notification["data"]["paymentRequestId"] == pr["id"]
        seen.append(dedupe.is_duplicate(notification["id"]))
    assert seen == [False, True]
    assert len(jwks_fetches(control)) == 1
