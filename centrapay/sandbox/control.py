"""Client for the sandbox test-control API (``/_sandbox/...``), urllib only.

Example::

    control = SandboxControl("http://127.0.0.1:8900")
    control.pay(pr_id)                      # the patron pays in full
    control.advance_clock(121)              # next read expires a new request
    control.add_fault(kind="status", status=503, path="/api/payment-requests")
    control.set_webhook("http://127.0.0.1:8069/centrapay/webhook")
    control.wait_for_deliveries(1)

Every method returns the decoded JSON answer and raises
:class:`SandboxControlError` on a non-2xx answer.
"""

import base64
import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote


class SandboxControlError(Exception):
    """A control call failed; ``status`` and ``body`` hold the answer."""

    def __init__(self, status, body):
        super().__init__(f"sandbox control call failed: {status} {body}")
        self.status = status
        self.body = body


class SandboxControl:
    """Drive a running :class:`~centrapay.sandbox.server.Sandbox` over HTTP."""

    def __init__(self, base_url, timeout=10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Never route loopback control calls through an environment proxy.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.base_url}/_sandbox{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            exc.close()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw.decode("utf-8", "replace")
            raise SandboxControlError(exc.code, payload) from None
        return json.loads(raw) if raw else None

    @staticmethod
    def _pr(pr_id):
        return quote(pr_id, safe="")

    # -- payment requests -------------------------------------------------------

    def pay(self, pr_id, asset_type=None, amount=None, mode=None, idempotency_key=None):
        """Pay as the sandbox patron (default asset ``centrapay.nzd.test``, in full).

        Returns the payment activity; a refused payment raises with the
        Centrapay error code in ``body["message"]`` (e.g. ``REQUEST_EXPIRED``).
        """
        body = {"assetType": asset_type, "idempotencyKey": idempotency_key}
        if amount is not None:
            body["amount"] = str(amount)
        if mode is not None:
            body["mode"] = mode
        return self._call("POST", f"/payment-requests/{self._pr(pr_id)}/pay", body)

    def expire(self, pr_id):
        """Expire a ``new`` request now; returns the Payment Request."""
        return self._call("POST", f"/payment-requests/{self._pr(pr_id)}/expire", {})

    def cancel(self, pr_id):
        """Cancel a ``new`` request as the patron (``CANCELLED_BY_PATRON``)."""
        return self._call("POST", f"/payment-requests/{self._pr(pr_id)}/cancel", {})

    def approve(self, pr_id, amount=None, mode=None):
        """The patron approves a barcode request in the app (in full, or
        ``amount`` with ``mode``); the payment waits for any condition.
        Returns the Payment Request."""
        body = {"mode": mode}
        if amount is not None:
            body["amount"] = str(amount)
        body = {k: v for k, v in body.items() if v is not None}
        return self._call("POST", f"/payment-requests/{self._pr(pr_id)}/approve", body)

    def add_condition(self, pr_id, name, message, status="awaiting-merchant"):
        """A condition appears (``awaiting-merchant`` or ``awaiting-patron``);
        on a request without ``conditionsEnabled`` it cancels it. Returns the
        Payment Request."""
        body = {"name": name, "message": message, "status": status}
        return self._call(
            "POST", f"/payment-requests/{self._pr(pr_id)}/conditions", body
        )

    def void_condition(self, pr_id, condition_id):
        """A condition no longer applies; returns the Payment Request."""
        path = (
            f"/payment-requests/{self._pr(pr_id)}/conditions/"
            f"{self._pr(str(condition_id))}/void"
        )
        return self._call("POST", path, {})

    def patron_codes(self):
        """Codes the sandbox knows: patron codes (``barcode``, ``id``,
        ``testScenarioName``) and the Farmlands test cards (``refusal``)."""
        return self._call("GET", "/patron-codes")["items"]

    def add_patron_code(self, test_scenario_name=None):
        """A new 16-digit patron code, e.g. with ``force-condition-check-photo-id``."""
        body = {"testScenarioName": test_scenario_name} if test_scenario_name else {}
        return self._call("POST", "/patron-codes", body)

    def add_merchant_config(self):
        """Give the merchant one more config (another store); returns its id."""
        return self._call("POST", "/merchant-configs", {})["id"]

    # -- settlements (E19) ------------------------------------------------------

    def settlements(self):
        """Every merchant's settlements, newest first (made and confirmed as due)."""
        return self._call("GET", "/settlements")["items"]

    def force_settlement(self, settlement_id, status=None, amount=None):
        """Set a settlement's ``status`` and/or ``settlementAmount`` (minor
        units); it then stays so. Returns the settlement."""
        body = {"status": status}
        if amount is not None:
            body["settlementAmount"] = str(amount)
        body = {k: v for k, v in body.items() if v is not None}
        return self._call("POST", f"/settlements/{self._pr(settlement_id)}", body)

    def seed_settlements(self, days=3):
        """Demo data: ``days`` past days of sales and a refund, each day settled.

        Each of the ``days`` UTC days before today gets three paid requests
        and a part refund, made at those past times by the sandbox merchant
        (real requests, activities and webhooks; the sandbox clock does not
        move). Returns those days' settlements, newest first: the older ones
        ``confirmed``, yesterday's ``awaiting-confirmation`` (with the default
        ``settlementConfirmSeconds`` of a day). Call it on a fresh demo, before
        the POS takes payments: Odoo's activity feed reads back only to the
        newest activity it already has, so past activities made after that
        never reach its ledger.
        """
        return self._call("POST", "/settlements/seed", {"days": days})["items"]

    # -- clock, settings, reset -------------------------------------------------

    def advance_clock(self, seconds):
        """Move the sandbox clock forward; returns ``{now, offsetSeconds}``."""
        return self._call("POST", "/clock", {"advanceSeconds": seconds})

    def clock(self):
        return self._call("GET", "/clock")

    def configure(self, **settings):
        """Change settings: ``rateLimit``, ``refundWindowSeconds``,
        ``refundDelaySeconds``, ``voidWindowSeconds``, ``pageSize``,
        ``partialRefunds``, ``settlementConfirmSeconds``."""
        return self._call("POST", "/settings", settings)

    def settings(self):
        return self._call("GET", "/settings")

    def reset(self):
        """Forget payment data, faults, calls, webhooks; restore settings.

        Credentials and the signing key are kept.
        """
        return self._call("POST", "/reset", {})

    def info(self):
        """Non-secret connection details (no API key) and the sandbox time."""
        return self._call("GET", "/info")

    # -- merchant accounts and the truth ------------------------------------------

    def add_account(self, merchant_name=None, api_key=None):
        """Create another merchant account; returns its connection details,
        API key included (``api_key``, ``merchant_config_id``, ``merchant_id``,
        ``merchant_account_id``, ``base_url`` ...): shaped like ``credentials.json``.
        """
        body = {"merchantName": merchant_name, "apiKey": api_key}
        return self._call(
            "POST", "/accounts", {k: v for k, v in body.items() if v is not None}
        )

    def accounts(self):
        """Every merchant account (the sandbox's own first), without API keys."""
        return self._call("GET", "/accounts")["items"]

    def money_trail(self):
        """Every Payment Request of every account: ``id``, ``accountId``,
        ``status``, ``amount``, ``paid``, ``external`` (tenders taken outside
        Centrapay) and ``refunded`` (minor units, summed from its activities),
        ``remainingAmount``, ``externalRef``, ``activities`` ([type, createdAt,
        createdBy], oldest first). Expired requests are expired first."""
        return self._call("GET", "/payment-requests")["items"]

    # -- faults and call log ----------------------------------------------------

    def add_fault(self, **spec):
        """Inject a fault into matching ``/api`` or ``/pay`` calls.

        ``kind`` is one of ``status``, ``latency``, ``timeout``, ``malformed``,
        ``html``, ``drop``, ``commit_then_drop``, ``rate_limit``, ``odd_body``
        (the operation runs; its JSON answer gets ``patch`` merged in). Matching:
        ``method`` (default any) and ``path`` (prefix of the URL path) or
        ``pathRegex`` (``re.search``). Options: ``status``, ``seconds``,
        ``retryAfter``, ``times`` (default 1, ``None`` = forever), ``commit``
        (run the operation before answering badly), ``message``.
        """
        return self._call("POST", "/faults", spec)

    def faults(self):
        return self._call("GET", "/faults")["items"]

    def clear_faults(self):
        return self._call("DELETE", "/faults")

    def calls(self):
        """Calls to ``/api`` and ``/pay``: method, path, status, timestamp,
        account, fault, durationMs (never the API key)."""
        return self._call("GET", "/calls")["items"]

    def clear_calls(self):
        """Clear the call log and its counts (:meth:`call_stats`)."""
        return self._call("DELETE", "/calls")

    def call_stats(self):
        """Counts of every call since the log was cleared: ``total``, and by
        ``status`` (``"dropped"``: no answer), ``account``, ``fault``, ``route``;
        ``rateLimited``: the 429s by account. Not kept across a restart."""
        return self._call("GET", "/calls/stats")

    # -- webhooks ---------------------------------------------------------------

    def set_webhook(self, url, duplicate=False, reorder=False, **options):
        """Subscribe ``url`` to all notifications.

        ``options``: ``maxAttempts``, ``retryBaseSeconds``, ``retryMaxSeconds``,
        ``timeoutSeconds``, ``reorderWindowSeconds``.
        """
        body = {"url": url, "duplicate": duplicate, "reorder": reorder, **options}
        return self._call("POST", "/webhooks", body)

    def webhook_config(self):
        return self._call("GET", "/webhooks")

    def deliveries(self):
        """Delivery attempts, oldest first: notificationId, type, url, attempt,
        duplicate, status, ok, error, at, body, authorization."""
        return self._call("GET", "/webhooks/deliveries")["items"]

    def clear_deliveries(self):
        return self._call("DELETE", "/webhooks/deliveries")

    def flush_webhooks(self):
        """Release notifications held by the reorder mode now."""
        return self._call("POST", "/webhooks/flush", {})

    def wait_for_deliveries(self, count, timeout=5.0, ok_only=True):
        """Poll until at least ``count`` (successful) deliveries were made."""
        deadline = time.monotonic() + timeout
        while True:
            items = [d for d in self.deliveries() if d["ok"] or not ok_only]
            if len(items) >= count or time.monotonic() >= deadline:
                return items
            time.sleep(0.02)

    def sign(self, body, aud, iat=None, exp=None):
        """Return an ``Authorization`` JWT for a raw notification body.

        ``body`` may be ``str`` (hashed as UTF-8) or ``bytes`` (hashed as is).
        ``iat``/``exp`` override the claims, e.g. to forge an expired token.
        """
        payload = {"aud": aud, "iat": iat, "exp": exp}
        if isinstance(body, bytes):
            payload["bodyBase64"] = base64.b64encode(body).decode()
        else:
            payload["body"] = body
        payload = {k: v for k, v in payload.items() if v is not None}
        return self._call("POST", "/webhooks/sign", payload)["authorization"]
