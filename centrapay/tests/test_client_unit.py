"""CentrapayClient edge cases against a scripted local HTTP server.

The behaviour against a faithful Centrapay lives in the sandbox-backed
``test_client_*`` files; this one covers what only a scripted server can show:
redirects, non-Centrapay 4xx bodies, odd Retry-After values, page-key loops,
URL encoding, local validation before any request, and key hygiene.
"""

import json
import logging
import threading
import time
import traceback
from decimal import Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from centrapay.client import CentrapayClient, Page, is_our_request
from centrapay.errors import (
    CentrapayAPIError,
    CentrapayBadRequest,
    CentrapayNotFound,
    CentrapayRateLimited,
    CentrapayUnknownOutcome,
    CentrapayValidationError,
)
from centrapay.tests.activity_pages import every_activity

API_KEY = "unit-SECRET-key-7f3a9c"
PR = {
    "id": "PR1",
    "status": "new",
    "url": "http://pay/PR1",
    "shortCode": "CP-AAA-BB",
    "value": {"amount": "1000", "currency": "NZD"},
}


class ScriptedServer:
    """Answers each request with the next scripted reply and records requests.

    A reply is ``(status, body, headers)``; ``body`` may be a dict (sent as
    JSON), bytes, or the string ``"drop"`` to close the connection unanswered.
    """

    def __init__(self):
        self.replies = []
        self.default = (200, PR, {})
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                server.requests.append(
                    {
                        "method": self.command,
                        "raw_path": parts.path,
                        "query": parse_qs(parts.query),
                        "headers": dict(self.headers),
                        "body": json.loads(raw) if raw else None,
                    }
                )
                status, body, headers = (
                    server.replies.pop(0) if server.replies else server.default
                )
                if body == "drop":
                    self.close_connection = True
                    return
                if isinstance(body, dict | list):
                    body = json.dumps(body).encode()
                    headers = {"Content-Type": "application/json", **headers}
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), daemon=True
        ).start()

    def reply(self, status, body, **headers):
        self.replies.append(
            (status, body, {k.replace("_", "-"): v for k, v in headers.items()})
        )

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = ScriptedServer()
    yield srv
    srv.close()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def client(server, sleeps):
    with CentrapayClient(
        server.base_url, API_KEY, sleep=sleeps.append, read_timeout=2
    ) as c:
        yield c


def create(client, **overrides):
    kwargs = {
        "config_id": "mc_1",
        "amount": Decimal("10.00"),
        "currency": "NZD",
        "external_ref": "order-1",
    }
    kwargs.update(overrides)
    return client.create_payment_request(**kwargs)


def test_request_shape(client, server):
    create(
        client,
        terminal_id="T1",
        device_id="D1",
        operator_id="O1",
        expiry_seconds=85,
        line_items=[
            {"name": "A", "qty": 2, "price": 600, "tax": Decimal("15.00")},
            {"name": "B", "qty": Decimal("1.5"), "price": "500", "discount": 50},
            {"name": "Promo", "qty": "1", "price": Decimal(-100), "sku": "P"},
        ],
        conditions_enabled=True,
        patron_not_present=False,
        invoice_ref="INV-1",
    )
    sent = server.requests[0]
    assert sent["method"] == "POST"
    assert sent["raw_path"] == "/api/payment-requests"
    assert sent["headers"]["X-Api-Key"] == API_KEY
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["body"] == {
        "configId": "mc_1",
        "value": {"amount": "1000", "currency": "NZD"},
        "externalRef": "order-1",
        "terminalId": "T1",
        "deviceId": "D1",
        "operatorId": "O1",
        "expirySeconds": 85,
        "conditionsEnabled": True,
        "patronNotPresent": False,
        "invoiceRef": "INV-1",
        "lineItems": [
            {"name": "A", "qty": "2", "price": "600", "tax": "15.00"},
            {"name": "B", "qty": "1.5", "price": "500", "discount": "50"},
            {"name": "Promo", "qty": "1", "price": "-100", "sku": "P"},
        ],
    }


def test_partial_payment_fields(client, server):
    create(
        client,
        partial_allowed=True,
        basket_amount=Decimal("25.00"),
        line_items=[{"name": "All", "qty": "1", "price": "2500"}],
    )
    body = server.requests[0]["body"]
    assert (body["partialAllowed"], body["basketAmount"]) == (True, "2500")


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"amount": 10.0}, "amount", "invalid_amount_type"),
        ({"amount": Decimal("10.001")}, "amount", "amount_precision"),
        ({"amount": Decimal(0)}, "amount", "amount_not_positive"),
        ({"amount": Decimal(1000000)}, "amount", "amount_too_large"),
        ({"currency": "XYZ"}, "currency", "invalid_currency"),
        ({"config_id": ""}, "config_id", "required"),
        ({"external_ref": None}, "external_ref", "required"),
        ({"terminal_id": 5}, "terminal_id", "required"),
        ({"expiry_seconds": 0}, "expiry_seconds", "invalid"),
        ({"expiry_seconds": True}, "expiry_seconds", "invalid"),
        ({"expiry_seconds": "120"}, "expiry_seconds", "invalid"),
        ({"invoice_ref": "x" * 129}, "invoice_ref", "too_long"),
        ({"conditions_enabled": "yes"}, "conditions_enabled", "invalid"),
        ({"partial_allowed": True}, "basket_amount", "required"),
        (
            {"partial_allowed": True, "basket_amount": Decimal(5)},
            "basket_amount",
            "invalid",
        ),
        (
            {"line_items": [{"name": "A", "qty": "1", "price": "999"}]},
            "line_items",
            "line_items_sum",
        ),
        (
            {"line_items": [{"name": "A", "qty": "1", "price": 10.0}]},
            "line_items[0].price",
            "invalid_amount_type",
        ),
        (
            {"line_items": [{"name": "A", "qty": 1.0, "price": "1000"}]},
            "line_items[0].qty",
            "invalid_number",
        ),
        ({"line_items": [{"name": "A", "price": "1000"}]}, "line_items[0]", "required"),
        (
            {"line_items": [{"name": "A", "qty": "1", "price": "1000", "quantity": 1}]},
            "line_items[0]",
            "unknown_field",
        ),
        ({"line_items": {"name": "A"}}, "line_items", "invalid"),
        ({"merchant_account_id": ""}, "merchant_account_id", "required"),
    ],
)
def test_create_validation_happens_before_any_request(
    client, server, overrides, field, code
):
    with pytest.raises(CentrapayValidationError) as info:
        create(client, **overrides)
    assert (info.value.field, info.value.code) == (field, code)
    assert server.requests == []


def test_unknown_create_field_is_a_type_error(client, server):
    with pytest.raises(TypeError):
        create(client, colour="red")
    assert server.requests == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get_payment_request(""),
        lambda c: c.get_payment_request(".."),
        lambda c: c.void_payment_request(None),
        lambda c: c.get_payment_request_by_short_code(" "),
        lambda c: c.list_payment_requests_by_external_ref("r", ""),
        lambda c: c.list_payment_activities("m", limit=0),
        lambda c: c.refund_payment_request(
            "PR1", amount=Decimal("1.00"), currency="NZD", external_ref=""
        ),
        lambda c: c.refund_payment_request(
            "PR1", amount=1.0, currency="NZD", external_ref="r1"
        ),
        lambda c: c.refund_payment_request(
            "PR1",
            amount=Decimal("1.00"),
            currency="NZD",
            external_ref="r1",
            line_items=[{"name": "A", "qty": "1", "price": "90"}],
        ),
    ],
)
def test_other_calls_validate_before_any_request(client, server, call):
    with pytest.raises(CentrapayValidationError):
        call(client)
    assert server.requests == []


def test_path_segments_and_page_keys_are_url_encoded(client, server):
    key = "PaymentRequest#E9e|Activity#0001|2021-09-15T03:00:21.156Z"
    server.reply(200, {"items": [], "nextPageKey": None})
    client.list_payment_requests_by_external_ref(
        "order/1#a b", "acc 1", page_key=key, limit=5
    )
    sent = server.requests[0]
    assert sent["raw_path"] == "/api/payment-requests/external-ref/order%2F1%23a%20b"
    assert sent["query"] == {
        "merchantAccountId": ["acc 1"],
        "pageKey": [key],
        "paginationLimit": ["5"],
    }


def test_both_page_key_names_are_read(client, server):
    # doc §3.6: E4's example answers "pageKey", the others "nextPageKey".
    server.reply(200, {"items": [{"id": "a"}], "pageKey": "k2"})
    server.reply(200, {"items": [{"id": "b"}], "nextPageKey": "k3"})
    server.reply(200, {"items": [{"id": "c"}]})
    items = list(every_activity(client, "m1"))
    assert [i["id"] for i in items] == ["a", "b", "c"]
    assert [r["query"].get("pageKey") for r in server.requests] == [
        None,
        ["k2"],
        ["k3"],
    ]


def test_echoed_or_repeating_page_keys_end_iteration(client, server):
    server.reply(200, {"items": [{"id": "a"}], "nextPageKey": "k1"})
    server.reply(200, {"items": [{"id": "b"}], "pageKey": "k1"})  # echo
    assert len(list(every_activity(client, "m1"))) == 2
    server.reply(200, {"items": [{"id": "a"}], "nextPageKey": "k1"})
    server.reply(200, {"items": [{"id": "b"}], "nextPageKey": "k2"})
    server.reply(200, {"items": [{"id": "c"}], "nextPageKey": "k1"})  # cycle
    assert len(list(every_activity(client, "m1"))) == 3
    server.default = (200, {"items": [{"id": "x"}], "nextPageKey": "more"}, {})
    page = client.list_payment_activities("m1", page_key="k0")
    assert page == Page([{"id": "x"}], "more")


def test_redirects_are_not_followed(client, server):
    # requests would re-send X-Api-Key to the redirect target.
    target = ScriptedServer()
    try:
        server.default = (302, b"", {"Location": target.base_url + "/steal"})
        with pytest.raises(CentrapayUnknownOutcome) as info:
            client.void_payment_request("PR1")
    finally:
        target.close()
    assert info.value.kind == "unexpected_status"
    assert info.value.http_status == 302
    assert target.requests == []


def test_non_centrapay_4xx_is_an_unknown_outcome(client, server, sleeps):
    server.reply(403, b"<html>blocked by proxy</html>", Content_Type="text/html")
    server.reply(200, {"id": "PR1", "status": "paid", "value": PR["value"]})
    assert client.get_payment_request("PR1")["status"] == "paid"
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, CentrapayBadRequest), (404, CentrapayNotFound), (409, CentrapayAPIError)],
)
def test_definite_4xx_are_not_retried(client, server, sleeps, status, cls):
    server.reply(status, {"statusCode": status, "message": "SOME_CODE", "reason": "x"})
    with pytest.raises(cls) as info:
        client.get_payment_request("PR1")
    assert type(info.value) is cls
    assert (info.value.http_status, info.value.code, info.value.reason) == (
        status,
        "SOME_CODE",
        "x",
    )
    assert info.value.attempts == 1
    assert len(server.requests) == 1
    assert sleeps == []


def test_retry_after_http_date(client, server, sleeps):
    when = formatdate(time.time() + 3, usegmt=True)
    server.reply(429, {"message": "RATE_LIMIT_EXCEEDED"}, Retry_After=when)
    client.get_payment_request("PR1")
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 3


def test_retry_after_without_header_uses_backoff(client, server, sleeps):
    server.reply(429, b"Too Many Requests")
    client.get_payment_request("PR1")
    assert sleeps == [0.5]


def test_retry_after_above_the_bound_is_raised_at_once(server, sleeps):
    client = CentrapayClient(
        server.base_url, API_KEY, sleep=sleeps.append, max_retry_after=5
    )
    server.reply(429, {"message": "RATE_LIMIT_EXCEEDED"}, Retry_After="60")
    with pytest.raises(CentrapayRateLimited) as info:
        client.get_payment_request("PR1")
    assert info.value.retry_after == 60
    assert sleeps == []


def test_rate_limited_create_is_retried(client, server, sleeps):
    # A 429 is a definite refusal: re-sending the create cannot duplicate it.
    server.reply(429, {"message": "RATE_LIMIT_EXCEEDED"}, Retry_After="1")
    assert create(client)["id"] == "PR1"
    assert [r["method"] for r in server.requests] == ["POST", "POST"]
    assert sleeps == [1.0]


def test_lost_create_without_merchant_account_is_not_resent(client, server, sleeps):
    server.reply(502, b"Bad Gateway")
    with pytest.raises(CentrapayUnknownOutcome) as info:
        create(client)
    assert info.value.external_ref == "order-1"
    assert info.value.kind == "server_error"
    assert len(server.requests) == 1


def test_lost_create_with_failing_lookup(client, server):
    server.reply(200, {"id": "PR1"})  # incomplete create answer
    server.default = (500, b"oops", {})
    with pytest.raises(CentrapayUnknownOutcome) as info:
        create(client, merchant_account_id="acc1")
    assert info.value.kind == "incomplete"
    assert info.value.external_ref == "order-1"
    assert "lookup by externalRef failed" in str(info.value)
    assert [r["method"] for r in server.requests].count("POST") == 1


def test_lost_create_found_but_unreadable(client, server):
    server.reply(500, b"oops")
    server.reply(200, {"items": [{**PR, "externalRef": "order-1"}]})
    server.default = (503, b"busy", {})
    with pytest.raises(CentrapayUnknownOutcome) as info:
        create(client, merchant_account_id="acc1")
    assert info.value.payment_request_id == "PR1"
    assert info.value.external_ref == "order-1"


def test_lookup_ignores_requests_with_another_amount(client, server):
    server.reply(500, b"oops")
    other = {**PR, "id": "OLD", "value": {"amount": "999", "currency": "NZD"}}
    server.reply(200, {"items": [other]})
    server.reply(200, PR)  # the single re-create
    assert create(client, merchant_account_id="acc1")["id"] == "PR1"
    assert [r["method"] for r in server.requests] == ["POST", "GET", "POST"]


@pytest.mark.parametrize(
    "body",
    [b"", b"null", b"[]", b"<html>ok</html>", b'{"id": "PR1"', b"\xff\xfe"],
)
def test_unparseable_success_bodies(client, server, body):
    server.default = (200, body, {})
    with pytest.raises(CentrapayUnknownOutcome) as info:
        client.get_payment_request("PR1")
    assert info.value.kind == "malformed"
    assert info.value.attempts == 3


def test_items_must_be_a_list(client, server):
    server.default = (200, {"items": "nope"}, {})
    with pytest.raises(CentrapayUnknownOutcome):
        client.list_payment_activities("m1")


def test_read_timeout(server, sleeps):
    class SlowSession(requests.Session):
        def request(self, *args, **kwargs):
            assert kwargs["timeout"] == (0.5, 0.3)
            return super().request(*args, **kwargs)

    client = CentrapayClient(
        server.base_url,
        API_KEY,
        connect_timeout=0.5,
        read_timeout=0.3,
        max_retries=1,
        sleep=sleeps.append,
        session=SlowSession(),
    )
    server.default = (200, PR, {})
    original = server.httpd.RequestHandlerClass.do_GET

    def slow(handler):
        time.sleep(0.6)
        original(handler)

    server.httpd.RequestHandlerClass.do_GET = slow
    try:
        with pytest.raises(CentrapayUnknownOutcome) as info:
            client.get_payment_request("PR1")
    finally:
        server.httpd.RequestHandlerClass.do_GET = original
    assert info.value.kind == "timeout"
    assert info.value.attempts == 2


# ------------------------------------------------------------- key hygiene


class LeakySession(requests.Session):
    """A session whose errors quote the request headers, key included."""

    def request(self, method, url, **kwargs):
        raise requests.ConnectionError(f"cannot reach {url} with {kwargs['headers']}")


def all_text(exc):
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)


def test_key_never_in_exceptions_logs_or_repr(server, caplog):
    caplog.set_level(logging.DEBUG)
    client = CentrapayClient(
        server.base_url, API_KEY, session=LeakySession(), sleep=lambda s: None
    )
    assert API_KEY not in repr(client) and API_KEY not in str(client)
    assert API_KEY not in repr(vars(client))
    with pytest.raises(CentrapayUnknownOutcome) as info:
        client.get_payment_request("PR1")
    assert "***" in str(info.value)  # the detail is kept, scrubbed
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert API_KEY not in all_text(info.value)
    with pytest.raises(CentrapayUnknownOutcome) as info:
        create(client, merchant_account_id="acc1")
    assert API_KEY not in all_text(info.value)
    assert API_KEY not in caplog.text


def test_key_not_in_api_errors(client, server, caplog):
    caplog.set_level(logging.DEBUG)
    server.reply(401, {"statusCode": 401, "message": "Missing authentication"})
    with pytest.raises(CentrapayAPIError) as info:
        client.get_payment_request("PR1")
    assert API_KEY not in all_text(info.value)
    assert API_KEY not in caplog.text


@pytest.mark.parametrize("bad", ["", "key with space", "key\nX-Evil: 1", "clé", None])
def test_bad_api_key_is_rejected_without_echo(bad):
    with pytest.raises(CentrapayValidationError) as info:
        CentrapayClient("http://127.0.0.1:1", bad)
    assert info.value.field == "api_key"
    if bad:
        assert bad not in all_text(info.value)


@pytest.mark.parametrize(
    "url",
    ["", "ftp://x", "service.centrapay.com", "https://u:p@host", "https://h/?a=1"],
)
def test_bad_base_url(url):
    with pytest.raises(CentrapayValidationError) as info:
        CentrapayClient(url, API_KEY)
    assert info.value.field == "base_url"


def test_the_budget_hook_runs_before_every_http_attempt():
    """Retries count: ``before_attempt`` is called once per HTTP attempt."""
    from centrapay.errors import CentrapayBudgetExhausted

    hits = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            hits.append(self.path)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        attempts = []
        client = CentrapayClient(
            f"http://127.0.0.1:{server.server_port}",
            "k" * 20,
            max_retries=2,
            sleep=lambda _s: None,
            before_attempt=lambda: attempts.append(1),
        )
        with pytest.raises(CentrapayUnknownOutcome):
            client.get_payment_request("abc")
        assert len(attempts) == len(hits) == 3

        def refuse():
            raise CentrapayBudgetExhausted(2.0)

        hits.clear()
        refused = CentrapayClient(
            f"http://127.0.0.1:{server.server_port}", "k" * 20, before_attempt=refuse
        )
        with pytest.raises(CentrapayBudgetExhausted):
            refused.get_payment_request("abc")
        assert hits == [], "nothing is sent when the budget refuses"
    finally:
        server.shutdown()
        server.server_close()


OURS = {
    "id": "PR1",
    "externalRef": "POS/1",
    "value": {"amount": "1000", "currency": "NZD"},
}
CREATED = {"amount": "1000", "currency": "NZD"}


@pytest.mark.parametrize(
    "item, ours",
    [
        (OURS, True),
        # Summaries may omit externalRef: E4 filtered on it already.
        ({k: v for k, v in OURS.items() if k != "externalRef"}, True),
        ({**OURS, "value": {"amount": 1000, "currency": "NZD"}}, True),
        ({**OURS, "externalRef": "POS/2"}, False),
        ({**OURS, "value": {"amount": "1001", "currency": "NZD"}}, False),
        ({**OURS, "value": {"amount": "1000", "currency": "AUD"}}, False),
        ({**OURS, "value": {"amount": "10.00", "currency": "NZD"}}, False),
        ({**OURS, "value": None}, False),
        ({**OURS, "id": ""}, False),
        ({**OURS, "id": 7}, False),
    ],
)
def test_is_our_request_needs_our_reference_amount_and_currency(item, ours):
    assert is_our_request(item, "POS/1", CREATED) is ours
