"""Sandbox: webhook notifications (signing, delivery, retry, duplicate, reorder)."""

import hashlib
import json
import socket
import time

import jwt
import pytest

PAID = "payment-request:paid"
INITIATED = "payment-request:refund-initiated"
COMPLETED = "payment-request:refund-completed"


def _verify(sandbox, api, request, aud):
    """Verify a delivery the way a receiver must (doc §11.1)."""
    jwks = api.get("/api/.well-known/jwks.json", key=False).json()
    token = request["headers"]["Authorization"]
    header = jwt.get_unverified_header(token)
    (jwk,) = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["ES256"], audience=aud)
    assert claims["exp"] == claims["iat"] + 300
    assert claims["request_body_sha256"] == hashlib.sha256(request["body"]).hexdigest()
    return claims


def test_paid_notification_is_signed(api, sandbox, control, receiver):
    control.set_webhook(receiver.url)
    pr = api.create(1200)
    activity = control.pay(pr["id"])
    (request,) = receiver.wait(1)
    _verify(sandbox, api, request, receiver.url)
    note = json.loads(request["body"])
    assert set(note) == {"id", "type", "data", "accountId", "test", "createdAt"}
    assert note["type"] == PAID
    assert note["data"] == activity
    assert note["accountId"] == sandbox.merchant_account_id
    assert note["test"] is True
    assert request["headers"]["Content-Type"] == "application/json"
    (delivery,) = control.wait_for_deliveries(1)
    assert delivery["status"] == 200 and delivery["ok"]
    assert delivery["body"] == request["body"].decode()
    assert delivery["notificationId"] == note["id"]


def test_refund_notifications(api, sandbox, control, receiver):
    control.configure(refundDelaySeconds=0.2)
    pr = api.paid(1000)
    control.set_webhook(receiver.url)
    started = time.monotonic()
    refund = api.refund(pr["id"], 400, "r1").json()
    receiver.wait(2)
    notes = receiver.notifications()
    assert [n["type"] for n in notes] == [INITIATED, COMPLETED]
    assert receiver.accepted()[1]["received"] - started >= 0.2  # the refund delay
    assert all(n["data"] == refund for n in notes)
    assert notes[0]["id"] != notes[1]["id"]
    void_refund = api.void(pr["id"]).json()
    receiver.wait(4)
    void_notes = receiver.notifications()[2:]
    assert [n["data"]["id"] for n in void_notes] == [void_refund["id"]] * 2


def test_failed_deliveries_are_retried(api, control, receiver):
    control.set_webhook(receiver.url, retryBaseSeconds=0.02)
    receiver.fail_next = 2
    control.pay(api.create()["id"])
    receiver.wait(1)
    all_requests = receiver.requests
    assert [r["status"] for r in all_requests] == [500, 500, 200]
    ids = {json.loads(r["body"])["id"] for r in all_requests}
    assert len(ids) == 1  # the same notification each time
    deliveries = control.wait_for_deliveries(1)
    attempts = [(d["attempt"], d["status"]) for d in control.deliveries()]
    assert attempts == [(1, 500), (2, 500), (3, 200)]
    assert deliveries[0]["attempt"] == 3


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_errors_retry_then_give_up(api, control):
    control.set_webhook(
        f"http://127.0.0.1:{_closed_port()}/unreachable",
        retryBaseSeconds=0.01,
        maxAttempts=3,
    )
    control.pay(api.create()["id"])
    deadline = time.monotonic() + 5
    while len(control.deliveries()) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    deliveries = control.deliveries()
    assert [d["attempt"] for d in deliveries] == [1, 2, 3]
    assert all(d["status"] is None and d["error"] for d in deliveries)
    time.sleep(0.05)
    assert control.webhook_config()["url"].endswith("/unreachable")
    assert len(control.deliveries()) == 3  # bounded attempts


def test_duplicate_mode(api, control, receiver):
    control.set_webhook(receiver.url, duplicate=True)
    control.pay(api.create()["id"])
    first, second = receiver.wait(2)
    assert first["body"] == second["body"]
    assert [d["duplicate"] for d in control.wait_for_deliveries(2)] == [False, True]


def test_reorder_mode(api, control, receiver):
    control.set_webhook(receiver.url, reorder=True, reorderWindowSeconds=30)
    pr = api.paid(1000)
    api.refund(pr["id"], 100, "r1")
    time.sleep(0.1)
    assert receiver.requests == []  # held
    control.flush_webhooks()
    receiver.wait(3)
    assert [n["type"] for n in receiver.notifications()] == [COMPLETED, INITIATED, PAID]


def test_reorder_window_releases_by_itself(api, control, receiver):
    control.set_webhook(receiver.url, reorder=True, reorderWindowSeconds=0.5)
    pr = api.paid(1000)
    api.refund(pr["id"], 100, "r1")
    receiver.wait(3)
    assert [n["type"] for n in receiver.notifications()] == [COMPLETED, INITIATED, PAID]


def test_no_subscription_sends_nothing(api, control):
    control.pay(api.create()["id"])
    time.sleep(0.05)
    assert control.deliveries() == []


def test_sign_endpoint(api, sandbox, control):
    aud = "https://pos.example/centrapay/webhook"
    body = '{"id":"n1","type":"payment-request:paid"}'
    token = control.sign(body, aud)
    request = {"headers": {"Authorization": token}, "body": body.encode()}
    _verify(sandbox, api, request, aud)
    raw = b'{"x":"\xff"}'  # exact bytes, even non-UTF-8
    claims = jwt.decode(control.sign(raw, aud), options={"verify_signature": False})
    assert claims["request_body_sha256"] == hashlib.sha256(raw).hexdigest()
    expired = control.sign(body, aud, iat=1_000_000, exp=1_000_300)
    request["headers"]["Authorization"] = expired
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(sandbox, api, request, aud)
    request["headers"]["Authorization"] = token
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(sandbox, api, request, "https://other.example/hook")
