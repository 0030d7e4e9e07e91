"""CentrapayClient against sandbox faults: retries, rate limits, lost creates.

doc §3.4, §3.5, §3.7, §7.3 and checklist CP-ERR-2/4/7/8, over real HTTP.
"""

import logging
import time
import traceback
import uuid
from decimal import Decimal

import pytest
import requests

from centrapay.client import CentrapayClient
from centrapay.errors import (
    CentrapayAPIError,
    CentrapayRateLimited,
    CentrapayUnknownOutcome,
)

PR_PATH = "/api/payment-requests"


@pytest.fixture
def sleeps():
    return []


def make_client(sandbox, sleep, **kwargs):
    session = requests.Session()
    session.trust_env = False  # loopback only, never through a proxy
    return CentrapayClient(
        sandbox.base_url, sandbox.api_key, session=session, sleep=sleep, **kwargs
    )


@pytest.fixture
def client(sandbox, sleeps):
    with make_client(sandbox, sleeps.append, read_timeout=1.0) as c:
        yield c


def create(client, sandbox, external_ref=None, with_account=True, amount="10.00"):
    return client.create_payment_request(
        config_id=sandbox.merchant_config_id,
        amount=Decimal(amount),
        currency="NZD",
        external_ref=external_ref or f"order-{uuid.uuid4().hex[:12]}",
        merchant_account_id=sandbox.merchant_account_id if with_account else None,
    )


def api_calls(control, at_least=0):
    """The sandbox call log as (method, path) pairs.

    A "timeout" fault is logged only when the sandbox gives up on the call, after
    the client already moved on, so wait for ``at_least`` entries.
    """
    deadline = time.monotonic() + 5
    while True:
        calls = [(c["method"], c["path"].split("?")[0]) for c in control.calls()]
        if len(calls) >= at_least or time.monotonic() > deadline:
            return calls
        time.sleep(0.05)


def requests_with_ref(client, sandbox, external_ref):
    return list(
        client.iter_payment_requests_by_external_ref(
            external_ref, sandbox.merchant_account_id
        )
    )


# Faults after which nothing was answered in a usable way. "timeout" holds the
# connection past the client's 1 s read timeout.
UNKNOWN_FAULTS = [
    pytest.param({"kind": "status", "status": 500}, "server_error", id="500"),
    pytest.param({"kind": "status", "status": 502}, "server_error", id="502"),
    pytest.param({"kind": "status", "status": 503}, "server_error", id="503"),
    pytest.param({"kind": "status", "status": 504}, "server_error", id="504"),
    pytest.param({"kind": "timeout", "seconds": 2}, "timeout", id="timeout"),
    pytest.param({"kind": "malformed"}, "malformed", id="malformed"),
    pytest.param({"kind": "html"}, "server_error", id="html-502"),
    pytest.param({"kind": "html", "status": 200}, "malformed", id="html-200"),
    pytest.param({"kind": "drop"}, "connection", id="drop"),
]


# --------------------------------------------------------------- rate limits


def test_429_retry_after_is_honoured(client, sandbox, control, sleeps):
    pr = create(client, sandbox)
    control.clear_calls()
    control.add_fault(kind="rate_limit", method="GET", path=PR_PATH, retryAfter=2)
    assert client.get_payment_request(pr["id"])["id"] == pr["id"]
    assert sleeps == [2.0]
    assert [c["status"] for c in control.calls()] == [429, 200]


def test_real_rate_limit_waits_on_the_sandbox_clock(sandbox, control):
    waited = []

    def sleep(seconds):
        # Sleeping moves the sandbox clock instead of the test's wall clock.
        waited.append(seconds)
        control.advance_clock(seconds)

    control.configure(rateLimit=3)
    client = make_client(sandbox, sleep, max_retry_after=120)
    pr = create(client, sandbox)
    client.get_payment_request(pr["id"])
    client.get_payment_request(pr["id"])
    assert client.get_payment_request(pr["id"])["status"] == "new"  # 4th in a minute
    assert len(waited) == 1 and 1 <= waited[0] <= 60
    assert [c["status"] for c in control.calls()][-2:] == [429, 200]


def test_retry_after_beyond_the_bound_is_raised(client, sandbox, control, sleeps):
    control.add_fault(kind="rate_limit", path=PR_PATH, retryAfter=3600)
    with pytest.raises(CentrapayRateLimited) as info:
        client.get_payment_request("anything")
    assert (info.value.retry_after, info.value.code) == (3600, "RATE_LIMIT_EXCEEDED")
    assert sleeps == []


def test_persistent_429_gives_up(client, sandbox, control, sleeps):
    control.add_fault(kind="rate_limit", path=PR_PATH, retryAfter=1, times=None)
    with pytest.raises(CentrapayRateLimited) as info:
        client.get_payment_request("anything")
    assert info.value.attempts == 3
    assert sleeps == [1.0, 1.0]


def test_rate_limited_create_is_resent_without_duplicates(
    client, sandbox, control, sleeps
):
    control.add_fault(kind="rate_limit", method="POST", path=PR_PATH, retryAfter=1)
    pr = create(client, sandbox, external_ref="rl-1")
    assert [i["id"] for i in requests_with_ref(client, sandbox, "rl-1")] == [pr["id"]]
    assert sleeps == [1.0]


# ----------------------------------------------------------- unknown outcomes


@pytest.mark.parametrize(("fault", "kind"), UNKNOWN_FAULTS)
def test_get_is_retried(client, sandbox, control, sleeps, fault, kind):
    pr = create(client, sandbox)
    control.clear_calls()
    control.add_fault(method="GET", path=PR_PATH, **fault)
    assert client.get_payment_request(pr["id"])["id"] == pr["id"]
    assert sleeps == [0.5]
    assert len(api_calls(control, at_least=2)) == 2


@pytest.mark.parametrize(("fault", "kind"), UNKNOWN_FAULTS)
def test_void_is_retried(client, sandbox, control, sleeps, fault, kind):
    pr = create(client, sandbox)
    control.add_fault(method="POST", path=f"{PR_PATH}/{pr['id']}/void", **fault)
    assert client.void_payment_request(pr["id"])["type"] == "cancellation"
    assert client.get_payment_request(pr["id"])["status"] == "cancelled"
    assert sleeps == [0.5]


@pytest.mark.parametrize(("fault", "kind"), UNKNOWN_FAULTS)
def test_refund_is_retried_with_the_same_external_ref(
    client, sandbox, control, sleeps, fault, kind
):
    pr = create(client, sandbox)
    control.pay(pr["id"])
    control.add_fault(
        method="POST", path=f"{PR_PATH}/{pr['id']}/refund", commit=True, **fault
    )
    refund = client.refund_payment_request(
        pr["id"], amount=Decimal("4.00"), currency="NZD", external_ref="refund-1"
    )
    assert refund["externalRef"] == "refund-1"
    refunds = [
        a
        for a in client.list_payment_request_activities(pr["id"])
        if a["type"] == "refund"
    ]
    assert len(refunds) == 1  # committed by the first attempt, replayed by the retry
    assert sleeps == [0.5]


def test_void_lost_after_commit_is_safe_to_retry(client, sandbox, control):
    pr = create(client, sandbox)
    control.add_fault(kind="commit_then_drop", path=f"{PR_PATH}/{pr['id']}/void")
    assert client.void_payment_request(pr["id"])["type"] == "cancellation"


def test_void_of_paid_lost_after_commit_reports_attempts(client, sandbox, control):
    # The first void refunded; the retry learns ALREADY_REFUNDED. attempts > 1
    # tells the caller an earlier attempt may have worked: re-GET (doc §6.7).
    pr = create(client, sandbox)
    control.pay(pr["id"])
    control.add_fault(kind="commit_then_drop", path=f"{PR_PATH}/{pr['id']}/void")
    with pytest.raises(CentrapayAPIError) as info:
        client.void_payment_request(pr["id"])
    assert (info.value.code, info.value.attempts) == ("ALREADY_REFUNDED", 2)
    types = [a["type"] for a in client.list_payment_request_activities(pr["id"])]
    assert types.count("refund") == 1


@pytest.mark.parametrize(("fault", "kind"), UNKNOWN_FAULTS)
def test_persistent_failure_is_an_unknown_outcome(
    client, sandbox, control, sleeps, fault, kind
):
    control.add_fault(method="GET", path=PR_PATH, times=None, **fault)
    with pytest.raises(CentrapayUnknownOutcome) as info:
        client.get_payment_request("PR1")
    assert info.value.kind == kind
    assert info.value.attempts == 3
    assert sleeps == [0.5, 1.0]  # exponential backoff


def test_incomplete_create_answer_is_an_unknown_outcome(client, sandbox, control):
    # An injected 200 whose body lacks most fields (doc §7.3 "missing fields").
    control.add_fault(kind="malformed", method="POST", path=PR_PATH, commit=True)
    pr = create(client, sandbox, external_ref="half-1")
    assert pr["shortCode"] and pr["url"]
    assert len(requests_with_ref(client, sandbox, "half-1")) == 1


# --------------------------------------------------------------- lost creates


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "commit_then_drop"},
        {"kind": "timeout", "seconds": 2, "commit": True},
        {"kind": "status", "status": 502, "commit": True},
        {"kind": "html", "commit": True},
    ],
    ids=["commit_then_drop", "timeout", "502", "html"],
)
def test_lost_create_is_recovered_by_external_ref(client, sandbox, control, fault):
    control.add_fault(method="POST", path=PR_PATH, **fault)
    pr = create(client, sandbox, external_ref="lost-1")
    assert pr["status"] == "new" and pr["shortCode"]
    assert pr["externalRef"] == "lost-1"
    assert [i["id"] for i in requests_with_ref(client, sandbox, "lost-1")] == [pr["id"]]
    calls = api_calls(control, at_least=4)  # POST, lookup, GET, and the check
    assert [m for m, _ in calls].count("POST") == 1  # never re-sent
    assert ("GET", f"{PR_PATH}/external-ref/lost-1") in calls


def test_create_that_never_arrived_is_recreated_once(client, sandbox, control):
    control.add_fault(kind="drop", method="POST", path=PR_PATH)
    pr = create(client, sandbox, external_ref="gone-1")
    assert [i["id"] for i in requests_with_ref(client, sandbox, "gone-1")] == [pr["id"]]
    assert [m for m, _ in api_calls(control)].count("POST") == 2


def test_create_lost_twice_gives_up_with_the_external_ref(client, sandbox, control):
    control.add_fault(kind="status", status=503, method="POST", path=PR_PATH, times=2)
    with pytest.raises(CentrapayUnknownOutcome) as info:
        create(client, sandbox, external_ref="gone-2")
    assert info.value.external_ref == "gone-2"
    assert requests_with_ref(client, sandbox, "gone-2") == []
    assert [m for m, _ in api_calls(control)].count("POST") == 2


def test_lost_create_with_failing_lookup(client, sandbox, control):
    control.add_fault(kind="commit_then_drop", method="POST", path=PR_PATH)
    control.add_fault(
        kind="status",
        status=503,
        method="GET",
        path=f"{PR_PATH}/external-ref/",
        times=3,
    )
    with pytest.raises(CentrapayUnknownOutcome) as info:
        create(client, sandbox, external_ref="orphan-1")
    assert info.value.external_ref == "orphan-1"
    assert "orphan-1" in str(info.value)
    # The orphan exists; the caller can find it later (or void it) by the ref.
    (orphan,) = requests_with_ref(client, sandbox, "orphan-1")
    assert client.void_payment_request(orphan["id"])["type"] == "cancellation"


def test_lost_create_without_merchant_account_is_not_resent(client, sandbox, control):
    control.add_fault(kind="drop", method="POST", path=PR_PATH)
    with pytest.raises(CentrapayUnknownOutcome) as info:
        create(client, sandbox, external_ref="noacc-1", with_account=False)
    assert (info.value.external_ref, info.value.kind) == ("noacc-1", "connection")
    assert api_calls(control) == [("POST", PR_PATH)]


# -------------------------------------------------------------- key hygiene


def test_api_key_never_leaks(sandbox, control, caplog):
    caplog.set_level(logging.DEBUG)  # includes urllib3 and the sandbox's own log
    errors = []
    client = make_client(sandbox, lambda s: None, read_timeout=0.5)
    assert sandbox.api_key not in repr(client) + str(client) + repr(vars(client))
    control.add_fault(kind="drop", path=PR_PATH, times=None)
    for call in (
        lambda: client.get_payment_request("PR1"),
        lambda: create(client, sandbox),
        lambda: client.refund_payment_request(
            "PR1", amount=Decimal("1.00"), currency="NZD", external_ref="r"
        ),
    ):
        with pytest.raises(CentrapayUnknownOutcome) as info:
            call()
        errors.append(info.value)
    control.clear_faults()
    control.add_fault(kind="timeout", seconds=1, path=PR_PATH)
    impatient = make_client(sandbox, lambda s: None, read_timeout=0.2, max_retries=0)
    with pytest.raises(CentrapayUnknownOutcome) as info:
        impatient.get_payment_request("PR1")
    errors.append(info.value)
    control.add_fault(
        kind="status", status=403, path=PR_PATH, message="REFUND_DECLINED"
    )
    with pytest.raises(CentrapayAPIError) as info:
        client.get_payment_request("PR1")
    errors.append(info.value)
    for error in errors:
        text = "".join(traceback.format_exception(error)) + repr(error)
        assert sandbox.api_key not in text
    assert sandbox.api_key not in caplog.text
    assert "Centrapay GET" in caplog.text  # our logs were captured at all
