"""Sandbox: state survives restarts; the CLI starts, reports and stops."""

import json
import os
import signal
import subprocess
import sys

import pytest
import requests

from centrapay.sandbox import Sandbox

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_restart_keeps_everything(tmp_path, api_for):
    state = str(tmp_path / "state.json")
    first = Sandbox(state_path=state).start()
    api = api_for(first)
    pr = api.paid(1000, externalRef="order-1")
    refund = api.refund(pr["id"], 300, "r1").json()
    new = api.create(500, expirySeconds=60)
    first.control.advance_clock(30)
    first.control.add_fault(kind="status", path="/api/payment-activities", times=None)
    first.control.set_webhook("http://127.0.0.1:9/hook", duplicate=True)
    identity = (
        first.api_key,
        first.merchant_config_id,
        first.merchant_id,
        first.merchant_account_id,
        first.signer.kid,
    )
    jwks = api.get("/api/.well-known/jwks.json", key=False).json()
    first.stop()
    assert not [
        name for name in os.listdir(tmp_path) if name.startswith(".sandbox-state")
    ]

    second = Sandbox(state_path=state).start()
    try:
        api = api_for(second)
        assert identity == (
            second.api_key,
            second.merchant_config_id,
            second.merchant_id,
            second.merchant_account_id,
            second.signer.kid,
        )
        assert api.get("/api/.well-known/jwks.json", key=False).json() == jwks
        restored = api.pr(pr["id"])
        assert restored["status"] == "paid"
        assert restored["shortCode"] == pr["shortCode"]
        assert api.refund(pr["id"], 300, "r1").json() == refund  # idempotency kept
        api.assert_error(api.refund(pr["id"], 301, "r1"), 403, "REPEAT_REFERENCE")
        assert [a["activityNumber"] for a in api.activities(pr["id"])] == [
            "3",
            "2",
            "1",
        ]
        assert second.control.clock()["offsetSeconds"] == 30
        second.control.advance_clock(30)
        assert api.pr(new["id"])["status"] == "expired"
        assert (
            api.get(
                "/api/payment-activities", params={"merchantId": second.merchant_id}
            ).status_code
            == 503
        )
        assert second.control.webhook_config()["duplicate"] is True
    finally:
        second.stop()


def test_explicit_api_key_overrides_and_persists(tmp_path):
    state = str(tmp_path / "state.json")
    with Sandbox(state_path=state, api_key="my-key") as sandbox:
        assert sandbox.api_key == "my-key"
    with Sandbox(state_path=state) as sandbox:
        assert sandbox.api_key == "my-key"
    with open(state) as fh:
        assert json.load(fh)["credentials"]["apiKey"] == "my-key"
    assert os.stat(state).st_mode & 0o077 == 0  # holds secrets


def test_in_memory_sandbox_and_public_url(api_for):
    with Sandbox(public_url="http://192.0.2.10:8900/") as sandbox:
        pr = api_for(sandbox).create()
        assert pr["url"] == f"http://192.0.2.10:8900/pay/{pr['id']}"
        assert sandbox.store.path is None


def test_generated_keys_differ_between_fresh_sandboxes():
    with Sandbox() as one, Sandbox() as two:
        assert one.api_key != two.api_key
        assert one.merchant_config_id.startswith("mc_")
        assert one.merchant_config_id != two.merchant_config_id


@pytest.mark.skipif(sys.platform == "win32", reason="uses SIGTERM")
def test_cli_prints_credentials_and_stops_on_sigterm(tmp_path):
    state = tmp_path / "run" / "state.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "centrapay.sandbox",
            "--port",
            "0",
            "--state",
            str(state),
            "--api-key",
            "cli-key",
            "--rate-limit",
            "50",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("  credentials file"):
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            lines.append(line.rstrip("\n"))
        creds = json.loads((tmp_path / "run" / "credentials.json").read_text())
        assert creds["api_key"] == "cli-key"
        assert set(creds) >= {
            "base_url",
            "merchant_config_id",
            "merchant_account_id",
            "merchant_id",
            "jwks_url",
            "control_url",
        }
        text = "\n".join(lines)
        for value in (
            creds["base_url"],
            creds["merchant_config_id"],
            creds["jwks_url"],
            creds["control_url"],
            creds["merchant_account_id"],
        ):
            assert value in text
        with requests.Session() as session:
            session.trust_env = False
            resp = session.get(
                f"{creds['base_url']}/api/payment-requests/none",
                headers={"X-Api-Key": "cli-key"},
                timeout=5,
            )
        assert resp.status_code == 403
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "GET /api/payment-requests/none -> 403" in err  # one log line per request
    assert "cli-key" not in err
