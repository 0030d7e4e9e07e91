"""Sandbox: injected faults, rate limiting and the call log."""

import json
import time

import pytest
import requests

from centrapay.sandbox import Sandbox, SandboxControlError

CREATE = "/api/payment-requests"


def _by_ref(api, ref):
    params = {"merchantAccountId": api.sandbox.merchant_account_id}
    return api.get(f"/api/payment-requests/external-ref/{ref}", params=params).json()[
        "items"
    ]


def test_status_fault_applies_once(api, control):
    control.add_fault(method="POST", path=CREATE, kind="status", status=503)
    api.assert_error(
        api.post(CREATE, api.create_body(externalRef="s1")), 503, "SERVER ERROR"
    )
    assert _by_ref(api, "s1") == []  # not committed
    assert api.post(CREATE, api.create_body()).status_code == 200
    assert control.faults() == []


def test_fault_matching_by_method_regex_and_times(api, control):
    pr = api.create()
    control.add_fault(
        kind="status", status=500, pathRegex=r"/void$", times=2, message="boom"
    )
    assert api.get(f"/api/payment-requests/{pr['id']}").status_code == 200
    api.assert_error(api.void(pr["id"]), 500, "boom")
    api.assert_error(api.void(pr["id"]), 500, "boom")
    assert api.void(pr["id"]).status_code == 200
    control.add_fault(method="GET", kind="status", status=502, times=None)
    assert api.post(CREATE, api.create_body()).status_code == 200
    for _ in range(3):
        assert api.get(f"/api/payment-requests/{pr['id']}").status_code == 502
    control.clear_faults()
    assert api.get(f"/api/payment-requests/{pr['id']}").status_code == 200


def test_latency_fault_delays_but_answers(api, control):
    control.add_fault(path=CREATE, kind="latency", seconds=0.3)
    started = time.monotonic()
    resp = api.post(CREATE, api.create_body())
    assert resp.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_timeout_fault(api, control):
    control.add_fault(path=CREATE, kind="timeout", seconds=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.post(CREATE, api.create_body(externalRef="t1"), timeout=0.2)
    assert _by_ref(api, "t1") == []


def test_malformed_fault(api, control):
    control.add_fault(path=CREATE, kind="malformed")
    resp = api.post(CREATE, api.create_body())
    assert resp.status_code == 200
    with pytest.raises(ValueError):
        resp.json()
    control.add_fault(path=CREATE, kind="malformed", commit=True)
    resp = api.post(CREATE, api.create_body(externalRef="m1"))
    with pytest.raises(ValueError):
        json.loads(resp.content)
    assert len(_by_ref(api, "m1")) == 1  # committed, answer mangled


def test_html_fault(api, control):
    control.add_fault(path=CREATE, kind="html")
    resp = api.post(CREATE, api.create_body())
    assert resp.status_code == 502
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "<html>" in resp.text


def test_drop_fault_loses_request(api, control):
    control.add_fault(path=CREATE, kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post(CREATE, api.create_body(externalRef="d1"))
    assert _by_ref(api, "d1") == []


def test_commit_then_drop_commits(api, control):
    control.add_fault(path=CREATE, kind="commit_then_drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.post(CREATE, api.create_body(externalRef="c1"))
    (found,) = _by_ref(api, "c1")
    assert found["status"] == "new"
    # The POS recovery path: void the orphan it never got an answer for.
    assert api.void(found["id"]).json()["type"] == "cancellation"


def test_commit_then_drop_on_refund_then_retry_is_idempotent(api, control):
    pr = api.paid(1000)
    control.add_fault(pathRegex=r"/refund$", kind="commit_then_drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.refund(pr["id"], 400, "r1")
    assert api.refund(pr["id"], 400, "r1").status_code == 200
    assert [a["type"] for a in api.activities(pr["id"])].count("refund") == 1


def test_rate_limit_fault(api, control):
    control.add_fault(kind="rate_limit", retryAfter=7)
    resp = api.get("/api/payment-requests/x")
    api.assert_error(resp, 429, "RATE_LIMIT_EXCEEDED")
    assert resp.headers["Retry-After"] == "7"


def test_fault_validation_and_control_is_never_faulted(control):
    with pytest.raises(SandboxControlError) as err:
        control.add_fault(kind="explode")
    assert err.value.status == 400
    with pytest.raises(SandboxControlError):
        control.add_fault(kind="status", status=999)
    control.add_fault(kind="drop", path="/", times=None)
    assert control.info()["merchant_id"]  # /_sandbox is exempt


def test_rate_limit_sliding_window(tmp_path):
    with Sandbox(state_path=str(tmp_path / "s.json"), rate_limit=3) as sandbox:
        session = requests.Session()
        session.trust_env = False
        url = f"{sandbox.base_url}/api/payment-requests/unknown"
        headers = {"X-Api-Key": sandbox.api_key}
        assert [session.get(url, headers=headers).status_code for _ in range(3)] == [
            403
        ] * 3
        resp = session.get(url, headers=headers)
        assert resp.status_code == 429
        assert resp.json()["message"] == "RATE_LIMIT_EXCEEDED"
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        # Other accounts (here: an anonymous caller) have their own window.
        summary = f"{sandbox.base_url}/api/payment-requests/unknown/summary"
        assert session.get(summary).status_code == 403
        sandbox.control.advance_clock(60)
        assert session.get(url, headers=headers).status_code == 403
        sandbox.control.configure(rateLimit=0)  # disabled
        assert all(
            session.get(url, headers=headers).status_code == 403 for _ in range(5)
        )
        session.close()


def test_call_log_never_contains_the_key(api, sandbox, control):
    control.clear_calls()
    pr = api.create()
    control.add_fault(kind="drop", path="/api/payment-requests/")
    with pytest.raises(requests.exceptions.ConnectionError):
        api.get(f"/api/payment-requests/{pr['id']}")
    api.get("/api/nope")
    calls = control.calls()
    assert [(c["method"], c["status"], c["fault"]) for c in calls] == [
        ("POST", 200, None),
        ("GET", None, "drop"),
        ("GET", 404, None),
    ]
    assert calls[0]["account"] == sandbox.merchant_account_id
    assert calls[0]["path"] == CREATE
    assert "timestamp" in calls[0]
    assert sandbox.api_key not in json.dumps(calls)
    control.clear_calls()
    assert control.calls() == []


def test_odd_body_runs_the_operation_and_patches_its_answer(api, control):
    control.add_fault(
        method="POST", path=CREATE, kind="odd_body", patch={"status": "draft"}
    )
    answer = api.post(CREATE, api.create_body(externalRef="odd1"))
    assert answer.status_code == 200
    assert answer.json()["status"] == "draft"
    [created] = _by_ref(api, "odd1")  # committed for real
    assert api.get(f"/api/payment-requests/{created['id']}").json()["status"] == "new"
    with pytest.raises(SandboxControlError):
        control.add_fault(kind="odd_body", patch=["not", "a", "dict"])
