"""Shared fixtures: a live sandbox on 127.0.0.1, an API helper, a webhook receiver.

This directory has no ``__init__.py`` on purpose (the repository root is an
Odoo addon package), so the repository root is put on ``sys.path`` here.
"""

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(TESTS_DIR))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Skip the xunit setup of the packages above this folder.

    Without ``--rootdir=centrapay/tests`` pytest treats the repository root (an
    Odoo addon whose ``__init__.py`` imports ``odoo``) as a package and imports
    it to look for ``setup_module``; neither package above us defines one.
    """
    for node in item.listchain():
        if isinstance(node, pytest.Package) and TESTS_DIR.startswith(
            str(node.path) + os.sep
        ):
            node.setup = lambda: None


def assert_error(resp, status, message):
    """Assert a Centrapay error envelope with that status and machine code."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["statusCode"] == status
    assert body["message"] == message, body
    assert isinstance(body["error"], str)
    return body


class Api:
    """Thin ``requests`` wrapper that talks to a sandbox like a POS would."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.session = requests.Session()
        self.session.trust_env = False  # never via a proxy: loopback only

    assert_error = staticmethod(assert_error)

    def call(self, method, path, json=None, key=True, headers=None, **kwargs):
        all_headers = {"X-Api-Key": self.sandbox.api_key} if key else {}
        all_headers.update(headers or {})
        kwargs.setdefault("timeout", 5)
        return self.session.request(
            method,
            self.sandbox.base_url + path,
            json=json,
            headers=all_headers,
            **kwargs,
        )

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.call("POST", path, json=json, **kwargs)

    def create_body(self, amount=1000, **fields):
        body = {
            "configId": self.sandbox.merchant_config_id,
            "value": {"amount": str(amount), "currency": "NZD"},
        }
        body.update(fields)
        return body

    def create(self, amount=1000, **fields):
        """Create a Payment Request and return its JSON (asserts 200)."""
        resp = self.post("/api/payment-requests", self.create_body(amount, **fields))
        assert resp.status_code == 200, resp.text
        return resp.json()

    def paid(self, amount=1000, **fields):
        """Create a Payment Request and pay it in full as the patron."""
        pr = self.create(amount, **fields)
        self.sandbox.control.pay(pr["id"])
        return pr

    def refund(self, pr_id, amount, ref, **fields):
        body = {"value": {"amount": str(amount), "currency": "NZD"}, "externalRef": ref}
        body.update(fields)
        return self.post(f"/api/payment-requests/{pr_id}/refund", body)

    def void(self, pr_id):
        return self.post(f"/api/payment-requests/{pr_id}/void")

    def pr(self, pr_id):
        resp = self.get(f"/api/payment-requests/{pr_id}")
        assert resp.status_code == 200, resp.text
        return resp.json()

    def activities(self, pr_id):
        resp = self.get(f"/api/payment-requests/{pr_id}/activities")
        assert resp.status_code == 200, resp.text
        return resp.json()["items"]


@pytest.fixture
def sandbox(tmp_path):
    """A started sandbox persisting to a temporary state file."""
    from centrapay.sandbox import Sandbox  # after the sys.path setup above

    sb = Sandbox(state_path=str(tmp_path / "state.json")).start()
    yield sb
    sb.stop()


@pytest.fixture
def control(sandbox):
    return sandbox.control


@pytest.fixture
def api(sandbox):
    helper = Api(sandbox)
    yield helper
    helper.session.close()


@pytest.fixture
def api_for():
    """Factory of :class:`Api` helpers for sandboxes a test starts itself."""
    helpers = []

    def make(sandbox):
        helpers.append(Api(sandbox))
        return helpers[-1]

    yield make
    for helper in helpers:
        helper.session.close()


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 recording the notifications it gets.

    ``fail_next`` answers that many requests with 500 before accepting.
    """

    def __init__(self):
        self.requests = []
        self.fail_next = 0
        self.lock = threading.RLock()
        self.event = threading.Condition(self.lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.event:
                    fail = receiver.fail_next > 0
                    receiver.fail_next -= 1 if fail else 0
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": dict(self.headers),
                            "body": body,
                            "status": 500 if fail else 200,
                            "received": time.monotonic(),
                        }
                    )
                    receiver.event.notify_all()
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, fmt, *args):
                pass  # keep test output quiet

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/centrapay/webhook"
        self.thread = threading.Thread(
            target=self.server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
        )
        self.thread.start()

    def accepted(self):
        with self.lock:
            return [r for r in self.requests if r["status"] == 200]

    def wait(self, count, timeout=5.0, accepted=True):
        """Wait until ``count`` (accepted) requests arrived; return them."""
        with self.event:
            self.event.wait_for(
                lambda: len(self.accepted() if accepted else self.requests) >= count,
                timeout,
            )
            return list(self.accepted() if accepted else self.requests)

    def notifications(self):
        return [json.loads(r["body"]) for r in self.accepted()]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    rec = WebhookReceiver()
    yield rec
    rec.close()
