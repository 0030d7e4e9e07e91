"""HTTP front of the Centrapay sandbox: the :class:`Sandbox` server.

Routes
------
* ``/api/...``: the emulated Centrapay "next" Payment Requests API
  (``X-Api-Key`` auth, rate limit, injected faults, call log).
* ``/pay/{id}``: the patron pay page that the Payment Request ``url`` points at.
* ``/_sandbox/...``: the test-control API (no auth, never faulted or logged as
  a call); see :mod:`centrapay.sandbox.control` for the client.
"""

import base64
import collections
import dataclasses
import json
import logging
import math
import re
import secrets
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

from . import paypage
from .control import SandboxControl
from .engine import TEST_ASSET, Engine, Settings
from .settlements import Settlements
from .store import Store
from .util import ApiError, bad_request, base58_id, forbidden, hex_id, iso
from .webhooks import JWKS_MAX_AGE, Signer, WebhookDispatcher

_logger = logging.getLogger(__name__)

FAULT_KINDS = (
    "status",
    "latency",
    "timeout",
    "malformed",
    "html",
    "drop",
    "commit_then_drop",
    "rate_limit",
    "odd_body",
)
_FAULT_DEFAULT_STATUS = {"status": 503, "html": 502, "malformed": 200}
_FAULT_DEFAULT_SECONDS = {"latency": 1.0, "timeout": 5.0}
RATE_WINDOW = 60.0
CALL_STAT_GROUPS = ("status", "account", "fault", "route", "rateLimited")


@dataclasses.dataclass
class Request:
    method: str
    path: str  # raw (still percent-encoded) path, without the query string
    target: str  # path plus query string, as logged
    query: dict
    headers: object
    body: bytes
    client: str


@dataclasses.dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"
    headers: dict = dataclasses.field(default_factory=dict)


def json_response(status, document, headers=None):
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, headers=headers or {})


def error_response(error):
    return json_response(error.status, error.body(), error.headers)


def html_response(status, html, headers=None):
    return Response(status, html.encode(), "text/html; charset=utf-8", headers or {})


class RateLimiter:
    """Sliding 60 s window per account, measured on the sandbox clock."""

    def __init__(self, clock):
        self._clock = clock
        self._lock = threading.Lock()
        self._windows = collections.defaultdict(collections.deque)

    def hit(self, account, limit):
        """Count a request; return ``Retry-After`` seconds if over the limit."""
        if not limit:
            return None
        now = self._clock()
        with self._lock:
            window = self._windows[account]
            while window and window[0] <= now - RATE_WINDOW:
                window.popleft()
            if len(window) >= limit:
                return max(1, math.ceil(window[0] + RATE_WINDOW - now))
            window.append(now)
            return None

    def reset(self):
        with self._lock:
            self._windows.clear()


def _route(method, pattern, name, auth=None):
    return method, re.compile(pattern), name, auth


_PR = r"/api/payment-requests/(?P<id>[^/]+)"
# doc §15.1: no next-API cancel route (removed in 2022); it is a 404 like any
# unknown route, and merchants cancel with void.
API_ROUTES = (
    _route("POST", r"/api/payment-requests", "create", "key"),
    _route(
        "GET", r"/api/payment-requests/short-code/(?P<code>[^/]+)", "short_code", "key"
    ),
    _route(
        "GET", r"/api/payment-requests/external-ref/(?P<ref>[^/]+)", "by_ref", "key"
    ),
    _route("GET", _PR + r"/summary", "summary"),
    _route("GET", _PR + r"/activities", "activities", "key"),
    _route("POST", _PR + r"/pay", "pay", "patron"),
    _route("POST", _PR + r"/void", "void", "key"),
    _route("POST", _PR + r"/refund", "refund", "key"),
    # E11/E12: the merchant answers awaiting-merchant, the patron (JWT)
    # awaiting-patron conditions (doc §6.8).
    _route(
        "POST",
        _PR + r"/conditions/(?P<condition>[^/]+)/(?P<answer>accept|decline)",
        "condition",
        "patron",
    ),
    # The guides read a request with the patron's JWT too (doc §2).
    _route("GET", _PR, "get", "patron"),
    _route("GET", r"/api/payment-activities", "merchant_activities", "key"),
    # E15: the patron app finds the request its scanned code is on.
    _route("GET", r"/api/me/patron-code-payment-request", "patron_code_pr", "patron"),
    # E17: patron barcodes and Farmlands test cards (doc §6.12).
    _route("POST", r"/api/decode", "decode", "key"),
    # doc §15.18: the merchant-terminal key may read its merchant's settlements.
    _route(
        "GET", r"/api/merchants/(?P<merchant>[^/]+)/settlements", "settlements", "key"
    ),
    _route("GET", r"/api/\.well-known/jwks\.json", "jwks"),
    _route("GET", r"/pay/(?P<id>[^/]+)", "pay_page"),
    _route("POST", r"/pay/(?P<id>[^/]+)", "pay_page_post"),
)
_C = r"/_sandbox"
CONTROL_ROUTES = (
    _route("GET", _C + r"/?(?:info)?", "info"),
    _route("POST", _C + r"/reset", "reset"),
    _route("GET", _C + r"/clock", "clock"),
    _route("POST", _C + r"/clock", "clock"),
    _route("GET", _C + r"/settings", "settings"),
    _route("POST", _C + r"/settings", "settings"),
    _route("POST", _C + r"/payment-requests/(?P<id>[^/]+)/pay", "control_pay"),
    _route("POST", _C + r"/payment-requests/(?P<id>[^/]+)/expire", "control_expire"),
    _route("POST", _C + r"/payment-requests/(?P<id>[^/]+)/cancel", "control_cancel"),
    _route("POST", _C + r"/payment-requests/(?P<id>[^/]+)/approve", "control_approve"),
    _route("POST", _C + r"/payment-requests/(?P<id>[^/]+)/conditions", "add_condition"),
    _route(
        "POST",
        _C + r"/payment-requests/(?P<id>[^/]+)/conditions/(?P<condition>[^/]+)/void",
        "void_condition",
    ),
    _route("GET", _C + r"/patron-codes", "patron_codes"),
    _route("POST", _C + r"/patron-codes", "add_patron_code"),
    _route("POST", _C + r"/merchant-configs", "add_merchant_config"),
    _route("GET", _C + r"/accounts", "accounts"),
    _route("POST", _C + r"/accounts", "add_account"),
    _route("GET", _C + r"/payment-requests", "money_trail"),
    _route("GET", _C + r"/settlements", "control_settlements"),
    _route("POST", _C + r"/settlements/seed", "seed_settlements"),
    _route("POST", _C + r"/settlements/(?P<id>[^/]+)", "force_settlement"),
    _route("GET", _C + r"/faults", "faults"),
    _route("POST", _C + r"/faults", "add_fault"),
    _route("DELETE", _C + r"/faults", "clear_faults"),
    _route("GET", _C + r"/calls", "calls"),
    _route("GET", _C + r"/calls/stats", "call_stats"),
    _route("DELETE", _C + r"/calls", "clear_calls"),
    _route("GET", _C + r"/webhooks", "webhook_config"),
    _route("POST", _C + r"/webhooks", "webhook_config"),
    _route("GET", _C + r"/webhooks/deliveries", "deliveries"),
    _route("DELETE", _C + r"/webhooks/deliveries", "clear_deliveries"),
    _route("POST", _C + r"/webhooks/flush", "flush_webhooks"),
    _route("POST", _C + r"/webhooks/sign", "sign"),
)


def _match(routes, method, path):
    """Return ``(name, auth, params)``; 404 when no route has that method+path."""
    for route_method, pattern, name, auth in routes:
        match = pattern.fullmatch(path)
        if match and route_method == method:
            return name, auth, {k: unquote(v) for k, v in match.groupdict().items()}
    # doc §3.4: 404 means a wrong path *or* method.
    raise ApiError(404, "Not Found", f"no route for {method} {path}")


def _json_body(req):
    if not req.body.strip():
        return {}
    try:
        return json.loads(req.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request("Invalid JSON body", str(exc)) from exc


_FAULT_FIELDS = {
    "kind", "method", "path", "pathRegex", "status", "seconds", "retryAfter",
    "times", "commit", "message", "patch",
}  # fmt: skip


def _number(spec, key, default, cast):
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise bad_request(f"{key} must be a non-negative number")
    return cast(value)


def _string(spec, key, default):
    value = spec.get(key)
    if value is None:
        return default
    if not isinstance(value, str) or not value:
        raise bad_request(f"{key} must be a non-empty string")
    return value


def _validate_fault(spec):
    """Normalise a fault spec posted to ``/_sandbox/faults``."""
    if not isinstance(spec, dict):
        raise bad_request("body must be a JSON object")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise bad_request(f"kind must be one of {', '.join(FAULT_KINDS)}")
    unknown = set(spec) - _FAULT_FIELDS
    if unknown:
        raise bad_request(f"unknown fault fields: {', '.join(sorted(unknown))}")
    times = spec.get("times", 1)
    if times is not None and (
        isinstance(times, bool) or not isinstance(times, int) or times < 1
    ):
        raise bad_request("times must be a positive integer or null (forever)")
    fault = {
        "id": hex_id(8),
        "kind": kind,
        "method": _string(spec, "method", "*").upper(),
        "path": _string(spec, "path", "/"),
        "pathRegex": _string(spec, "pathRegex", None),
        "status": _number(spec, "status", _FAULT_DEFAULT_STATUS.get(kind, 503), int),
        "seconds": _number(
            spec, "seconds", _FAULT_DEFAULT_SECONDS.get(kind, 0.0), float
        ),
        "retryAfter": _number(spec, "retryAfter", 1, int),
        "times": times,
        "commit": bool(spec.get("commit", False))
        or kind in ("commit_then_drop", "odd_body"),
        "message": _string(spec, "message", None),
        "patch": spec.get("patch") or {},
    }
    if not isinstance(fault["patch"], dict):
        raise bad_request("patch must be a JSON object")
    if fault["pathRegex"] is not None:
        try:
            re.compile(fault["pathRegex"])
        except re.error as exc:
            raise bad_request(f"pathRegex is invalid: {exc}") from exc
    if fault["status"] not in {s.value for s in HTTPStatus}:
        raise bad_request("status must be a standard HTTP status code")
    return fault


class Sandbox:
    """A local, stateful emulator of the Centrapay "next" Payment Requests API.

    Usage::

        sandbox = Sandbox(state_path="/tmp/cp/state.json").start()
        client = SomeClient(sandbox.base_url, sandbox.api_key)
        pr = ...create with configId=sandbox.merchant_config_id...
        sandbox.control.pay(pr["id"])
        sandbox.stop()

    Args:
        host, port: where to listen; ``port=0`` picks a free port.
        state_path: JSON file to persist to (reloaded on start); ``None`` keeps
            everything in memory.
        public_url: base of the Payment Request ``url`` (e.g. a LAN address
            for phones); defaults to :attr:`base_url`.
        api_key: the merchant-terminal key to accept; ``None`` generates one
            and persists it.
        rate_limit: requests per 60 s per account; ``0``/``None`` disables.
        webhook_url: initial webhook subscription URL.
        merchant_name: merchant name on new requests (persisted).
        refund_window_seconds, refund_delay_seconds: see ``Settings``.
        save_interval: seconds between state saves (0: at every change).

    More merchant accounts, each with its own key, config and ids, come from
    :meth:`add_account` (or ``POST /_sandbox/accounts``).

    Attributes: ``base_url``, ``api_key``, ``merchant_config_id``,
    ``merchant_id``, ``merchant_account_id``, ``merchant_name``, ``jwks_url``,
    ``control_url``, ``control`` (a :class:`SandboxControl`), plus ``engine``,
    ``store`` and ``webhooks`` for in-process inspection.
    """

    def __init__(
        self,
        host="127.0.0.1",
        port=0,
        state_path=None,
        public_url=None,
        api_key=None,
        rate_limit=200,
        webhook_url=None,
        *,
        merchant_name=None,
        refund_window_seconds=None,
        refund_delay_seconds=0.0,
        save_interval=0.0,
    ):
        self.host = host
        self.port = port
        self.public_url = public_url.rstrip("/") if public_url else None
        self.store = Store(state_path, save_interval)
        self._init_identity(api_key, merchant_name)
        self._default_settings = Settings(
            rate_limit=int(rate_limit or 0),
            refund_delay_seconds=float(refund_delay_seconds),
        )
        if refund_window_seconds is not None:
            self._default_settings.refund_window_seconds = float(refund_window_seconds)
        self.settings = dataclasses.replace(self._default_settings)
        self._webhook_url = webhook_url
        self.signer = Signer(self.store)
        self.webhooks = WebhookDispatcher(self.store, self.signer)
        if webhook_url:
            self.webhooks.configure({"url": webhook_url})
        self.engine = Engine(
            self.store, self.settings, self.webhooks.enqueue, self._pay_url
        )
        self.settlements = Settlements(self.engine)
        self._limiter = RateLimiter(self.store.now)
        self._calls = collections.deque(maxlen=5000)
        # Counts of every call since the log was last cleared (the log keeps
        # only the latest 5000).
        self._call_stats = collections.Counter()
        self._call_stats_lock = threading.Lock()
        self._httpd = None
        self._thread = None
        self._stop_event = threading.Event()
        self._control = None

    def _init_identity(self, api_key, merchant_name):
        with self.store.mutate() as state:
            creds, patron = state["credentials"], state["patron"]
            if api_key:
                creds["apiKey"] = api_key
            if merchant_name:
                creds["merchantName"] = merchant_name
            creds.setdefault("apiKey", secrets.token_urlsafe(32))
            creds.setdefault("merchantConfigId", "mc_" + hex_id(24))
            creds.setdefault("merchantId", base58_id())
            creds.setdefault("merchantAccountId", base58_id())
            creds.setdefault("merchantName", "Centrapay Sandbox Merchant")
            patron.setdefault("userId", base58_id())
            patron.setdefault("accountId", base58_id())
            patron.setdefault("assetId", base58_id())
            self.store.touch()

    # -- public attributes ------------------------------------------------------

    @property
    def api_key(self):
        return self.store.state["credentials"]["apiKey"]

    @property
    def merchant_config_id(self):
        return self.store.state["credentials"]["merchantConfigId"]

    @property
    def merchant_config_ids(self):
        """Every config the merchant has: the first one, then those added."""
        creds = self.store.state["credentials"]
        return [creds["merchantConfigId"], *creds.get("moreConfigIds", ())]

    def add_merchant_config(self):
        """Give the merchant one more config (another store); returns its id."""
        config_id = "mc_" + hex_id(24)
        with self.store.mutate() as state:
            state["credentials"].setdefault("moreConfigIds", []).append(config_id)
            self.store.touch()
        return config_id

    @property
    def merchant_id(self):
        return self.store.state["credentials"]["merchantId"]

    @property
    def merchant_account_id(self):
        return self.store.state["credentials"]["merchantAccountId"]

    @property
    def merchant_name(self):
        return self.store.state["credentials"]["merchantName"]

    @property
    def base_url(self):
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"  # a wildcard bind is reachable on loopback
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def jwks_url(self):
        return f"{self.base_url}/api/.well-known/jwks.json"

    @property
    def control_url(self):
        return f"{self.base_url}/_sandbox"

    @property
    def control(self):
        """A :class:`SandboxControl` bound to this server (after :meth:`start`)."""
        if self._control is None or self._control.base_url != self.base_url:
            self._control = SandboxControl(self.base_url)
        return self._control

    def info(self, creds=None):
        """Connection details (including the API key) for scripts and the CLI:
        of the sandbox's own account, or of ``creds`` (another account's)."""
        creds = creds or self.store.state["credentials"]
        return {
            "base_url": self.base_url,
            "api_key": creds["apiKey"],
            "merchant_config_id": creds["merchantConfigId"],
            "merchant_id": creds["merchantId"],
            "merchant_account_id": creds["merchantAccountId"],
            "merchant_name": creds["merchantName"],
            "jwks_url": self.jwks_url,
            "control_url": self.control_url,
            "public_url": self.public_url or self.base_url,
        }

    def add_account(self, merchant_name=None, api_key=None):
        """Another merchant account (own key, config, merchant and account ids);
        returns its :meth:`info`. It is kept in the state, like the first."""
        return self.info(self.engine.add_account(merchant_name, api_key))

    def _pay_url(self, pr_id):
        return f"{self.public_url or self.base_url}/pay/{pr_id}"

    # -- lifecycle --------------------------------------------------------------

    def start(self):
        """Start serving in a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        self._stop_event.clear()
        self._httpd = _Server((self.host, self.port), _Handler)
        self._httpd.sandbox = self
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},  # bounds stop() latency
            name=f"centrapay-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        self.webhooks.start()
        self.store.start_autosave()
        _logger.info("Centrapay sandbox listening on %s", self.base_url)
        return self

    def stop(self):
        """Stop serving, drop open connections and save the state."""
        if self._httpd is None:
            return
        self._stop_event.set()  # wakes handlers sleeping in latency/timeout faults
        self._httpd.shutdown()
        self._httpd.close_connections()
        self._httpd.server_close()
        self._thread.join(timeout=5)
        self.webhooks.stop()
        self.store.stop_autosave()
        self.store.save()
        self._httpd = None
        _logger.info("Centrapay sandbox on port %s stopped", self.port)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def reset(self):
        """Forget all payment data, faults, calls, webhooks; restore settings."""
        self.store.reset()
        for field in dataclasses.fields(Settings):
            setattr(
                self.settings, field.name, getattr(self._default_settings, field.name)
            )
        self._limiter.reset()
        self._calls.clear()
        self.webhooks.clear_deliveries()
        if self._webhook_url:
            self.webhooks.configure({"url": self._webhook_url})

    # -- request handling -------------------------------------------------------

    def _take_fault(self, method, path):
        with self.store.mutate() as state:
            for fault in state["faults"]:
                if fault["method"] not in ("*", method):
                    continue
                if fault["pathRegex"] is not None:
                    if not re.search(fault["pathRegex"], path):
                        continue
                elif not path.startswith(fault["path"]):
                    continue
                if fault["times"] is not None:
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        state["faults"].remove(fault)
                self.store.touch()
                return dict(fault)
        return None

    def _authenticate(self, req, auth):
        """Return the calling :class:`Actor` (or None for public routes)."""
        if auth is None:
            return None
        key = req.headers.get("X-Api-Key")
        creds = self.engine.account_for_key(key) if key else None
        if creds:
            return self.engine.actor_for(creds)
        if auth == "patron":
            token = (req.headers.get("Authorization") or "").strip()
            scheme, _, rest = token.partition(" ")
            if scheme.lower() == "bearer":
                token = rest.strip()
            # doc §15.15: bare or Bearer JWT; any non-empty token is a patron.
            if token:
                return self.engine.patron_actor
        raise ApiError(401, "Missing authentication")

    def serve_api(self, req):
        """Answer an ``/api`` or ``/pay`` request; returns ``(Response, account)``."""
        account = None
        try:
            name, auth, params = _match(API_ROUTES, req.method, req.path)
            actor = self._authenticate(req, auth)
            if name != "jwks" and not name.startswith("pay_page"):
                account = actor.account if actor else f"ip:{req.client}"
                retry_after = self._limiter.hit(account, self.settings.rate_limit)
                if retry_after is not None:
                    raise ApiError(
                        429,
                        "RATE_LIMIT_EXCEEDED",
                        headers={"Retry-After": str(retry_after)},
                    )
            elif name.startswith("pay_page"):
                account = "patron"
            return getattr(self, f"_api_{name}")(req, actor, **params), account
        except ApiError as exc:
            return error_response(exc), account
        except Exception:
            _logger.exception("sandbox error on %s %s", req.method, req.target)
            return error_response(ApiError(500, "SERVER ERROR")), account

    def _api_create(self, req, actor):
        return json_response(200, self.engine.create(_json_body(req), actor))

    def _api_get(self, req, actor, id):
        return json_response(200, self.engine.get(id, actor))

    def _api_short_code(self, req, actor, code):
        return json_response(200, self.engine.get_by_short_code(code, actor))

    def _api_by_ref(self, req, actor, ref):
        q = req.query
        page = self.engine.list_by_external_ref(
            ref,
            q.get("merchantAccountId"),
            q.get("pageKey"),
            q.get("paginationLimit"),
            actor,
        )
        return json_response(200, page)

    def _api_summary(self, req, actor, id):
        return json_response(200, self.engine.summary(id))

    def _api_activities(self, req, actor, id):
        return json_response(200, self.engine.activities(id, actor))

    def _api_merchant_activities(self, req, actor):
        q = req.query
        page = self.engine.merchant_activities(
            q.get("merchantId"), q.get("pageKey"), q.get("paginationLimit"), actor
        )
        return json_response(200, page)

    def _api_settlements(self, req, actor, merchant):
        q = req.query
        page = self.settlements.list(
            merchant, q.get("pageKey"), q.get("paginationLimit"), actor
        )
        return json_response(200, page)

    def _api_decode(self, req, actor):
        """E17 ``POST /api/decode`` (doc §6.12): the provider of a patron
        barcode or Farmlands test card. Our decision: the config is checked
        before the code."""
        body = _json_body(req)
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        for name in ("code", "scannedBy", "merchantConfigId"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise bad_request(f"{name} is required")
        if body["scannedBy"] != "merchant":
            raise bad_request("scannedBy must be merchant")
        creds = self.engine._creds_of(actor)
        configs = (creds["merchantConfigId"], *creds.get("moreConfigIds", ()))
        if body["merchantConfigId"] not in configs:
            raise forbidden("MERCHANT_CONFIG_NOT_FOUND")
        decoded = self.engine.decode(body["code"])
        answer = {k: body[k] for k in ("code", "scannedBy", "merchantConfigId")}
        return json_response(200, {**answer, **decoded})

    def _api_patron_code_pr(self, req, actor):
        return json_response(200, self.engine.patron_code_request(actor))

    def _api_condition(self, req, actor, id, condition, answer):
        accept = answer == "accept"
        return json_response(
            200, self.engine.answer_condition(id, condition, accept, actor)
        )

    def _api_pay(self, req, actor, id):
        return json_response(200, self.engine.pay(id, _json_body(req), actor))

    def _api_void(self, req, actor, id):
        return json_response(200, self.engine.void(id, actor))

    def _api_refund(self, req, actor, id):
        return json_response(200, self.engine.refund(id, _json_body(req), actor))

    def _api_jwks(self, req, actor):
        headers = {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"}
        return json_response(200, self.signer.jwks(), headers)

    def _api_pay_page(self, req, actor, id):
        try:
            pr, seconds_left = self.engine.pay_page(id)
        except ApiError:
            return html_response(404, paypage.render_not_found())
        return html_response(
            200, paypage.render(pr, seconds_left, req.query.get("error"))
        )

    def _api_pay_page_post(self, req, actor, id):
        form = {
            k: v[0] for k, v in parse_qs(req.body.decode("utf-8", "replace")).items()
        }
        location = f"/pay/{quote(id, safe='')}"
        try:
            if form.get("action") == "cancel":
                self.engine.patron_cancel(id)
            else:
                body = {
                    "assetType": TEST_ASSET,
                    "idempotencyKey": secrets.token_hex(16),
                }
                self.engine.pay(id, body, self.engine.patron_actor)
        except ApiError as exc:
            if exc.message == "Forbidden":
                return html_response(404, paypage.render_not_found())
            location += f"?error={quote(exc.message)}"
        return Response(303, headers={"Location": location})

    # -- test-control API -------------------------------------------------------

    def serve_control(self, req):
        try:
            name, _, params = _match(CONTROL_ROUTES, req.method, req.path)
            return getattr(self, f"_ctl_{name}")(req, **params)
        except ApiError as exc:
            return error_response(exc)
        except Exception:
            _logger.exception("sandbox control error on %s %s", req.method, req.target)
            return error_response(ApiError(500, "SERVER ERROR"))

    def _ctl_info(self, req):
        info = self.info()
        del info["api_key"]  # the control API is unauthenticated
        info["now"] = iso(self.store.now())
        return json_response(200, info)

    def _ctl_reset(self, req):
        self.reset()
        return json_response(200, {"reset": True})

    def _ctl_clock(self, req):
        if req.method == "POST":
            body = _json_body(req)
            seconds = body.get("advanceSeconds") if isinstance(body, dict) else None
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
                raise bad_request("advanceSeconds must be a number")
            with self.store.mutate() as state:
                state["clockOffset"] += seconds
                self.store.touch()
        return json_response(
            200,
            {
                "now": iso(self.store.now()),
                "offsetSeconds": self.store.state["clockOffset"],
            },
        )

    def _ctl_settings(self, req):
        if req.method == "POST":
            body = _json_body(req)
            if not isinstance(body, dict):
                raise bad_request("body must be a JSON object")
            self.settings.update(body)
        return json_response(200, self.settings.as_json())

    def _ctl_control_pay(self, req, id):
        body = _json_body(req)
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        body = {
            "assetType": TEST_ASSET,
            **{k: v for k, v in body.items() if v is not None},
        }
        return json_response(200, self.engine.pay(id, body, self.engine.patron_actor))

    def _ctl_control_expire(self, req, id):
        return json_response(200, self.engine.expire_now(id))

    def _ctl_control_cancel(self, req, id):
        return json_response(200, self.engine.patron_cancel(id))

    def _ctl_control_approve(self, req, id):
        return json_response(200, self.engine.approve(id, _json_body(req)))

    def _ctl_add_condition(self, req, id):
        return json_response(200, self.engine.add_condition(id, _json_body(req)))

    def _ctl_void_condition(self, req, id, condition):
        return json_response(200, self.engine.void_condition(id, condition))

    def _ctl_patron_codes(self, req):
        return json_response(200, {"items": self.engine.patron_codes()})

    def _ctl_add_patron_code(self, req):
        body = _json_body(req)
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        code = self.engine.add_patron_code(body.get("testScenarioName"))
        return json_response(200, code)

    def _ctl_accounts(self, req):
        accounts = [self.info(creds) for creds in self.engine.accounts()]
        for account in accounts:
            del account["api_key"]  # the control API is unauthenticated
        return json_response(200, {"items": accounts})

    def _ctl_add_account(self, req):
        body = _json_body(req)
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        name = _string(body, "merchantName", None)
        api_key = _string(body, "apiKey", None)
        # The caller made this account: it gets the account's key, once.
        return json_response(200, self.add_account(name, api_key))

    def _ctl_money_trail(self, req):
        return json_response(200, {"items": self.engine.money_trail()})

    def _ctl_add_merchant_config(self, req):
        return json_response(200, {"id": self.add_merchant_config()})

    def _ctl_control_settlements(self, req):
        return json_response(200, {"items": self.settlements.all()})

    def _ctl_seed_settlements(self, req):
        body = _json_body(req)
        days = body.get("days", 3) if isinstance(body, dict) else None
        return json_response(200, {"items": self.settlements.seed(days)})

    def _ctl_force_settlement(self, req, id):
        return json_response(200, self.settlements.force(id, _json_body(req)))

    def _ctl_faults(self, req):
        with self.store.lock:
            return json_response(200, {"items": list(self.store.state["faults"])})

    def _ctl_add_fault(self, req):
        fault = _validate_fault(_json_body(req))
        with self.store.mutate() as state:
            state["faults"].append(fault)
            self.store.touch()
        return json_response(200, fault)

    def _ctl_clear_faults(self, req):
        with self.store.mutate() as state:
            state["faults"].clear()
            self.store.touch()
        return json_response(200, {"items": []})

    def _ctl_calls(self, req):
        return json_response(200, {"items": list(self._calls)})

    def _ctl_clear_calls(self, req):
        self._calls.clear()
        with self._call_stats_lock:
            self._call_stats.clear()
        return json_response(200, {"items": []})

    def _ctl_call_stats(self, req):
        """Counts of the calls since the log was cleared, by status, account,
        fault and route, and the 429s by account (``{"total": n, "status":
        {"200": n, "dropped": n}, "account": {...}, "rateLimited": {...}}``)."""
        stats = {group: {} for group in CALL_STAT_GROUPS}
        with self._call_stats_lock:
            for (group, name), count in self._call_stats.items():
                stats[group][name] = count
        stats["total"] = sum(stats["status"].values())
        return json_response(200, stats)

    def _ctl_webhook_config(self, req):
        if req.method == "POST":
            return json_response(200, self.webhooks.configure(_json_body(req)))
        return json_response(200, self.webhooks.config)

    def _ctl_deliveries(self, req):
        return json_response(
            200,
            {"items": self.webhooks.deliveries(), "pending": self.webhooks.pending()},
        )

    def _ctl_clear_deliveries(self, req):
        self.webhooks.clear_deliveries()
        return json_response(200, {"items": []})

    def _ctl_flush_webhooks(self, req):
        self.webhooks.flush()
        return json_response(200, {"pending": self.webhooks.pending()})

    def _ctl_sign(self, req):
        body = _json_body(req)
        if not isinstance(body, dict) or not isinstance(body.get("aud"), str):
            raise bad_request("aud is required")
        if "bodyBase64" in body:
            try:
                raw = base64.b64decode(body["bodyBase64"], validate=True)
            except (TypeError, ValueError) as exc:
                raise bad_request("bodyBase64 is not valid base64") from exc
        elif isinstance(body.get("body"), str):
            raw = body["body"].encode()
        else:
            raise bad_request("body (string) or bodyBase64 is required")
        for claim in ("iat", "exp"):
            value = body.get(claim)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int)
            ):
                raise bad_request(f"{claim} must be an integer")
        token = self.signer.sign(raw, body["aud"], body.get("iat"), body.get("exp"))
        return json_response(200, {"authorization": token, "kid": self.signer.kid})

    # -- call log ---------------------------------------------------------------

    def record_call(self, req, status, account, fault, started, connection=None):
        entry = {
            "method": req.method,
            "path": req.target,
            "status": status,
            # The number of the TCP connection it came on (1, 2 ... since the
            # sandbox started): calls that share one reused a connection.
            "connection": connection,
            "timestamp": iso(self.store.now()),
            "account": account,
            "fault": fault,
            "durationMs": round((time.monotonic() - started) * 1000, 1),
        }
        self._calls.append(entry)
        route = next(
            (
                name
                for method, pattern, name, _ in API_ROUTES
                if method == req.method and pattern.fullmatch(req.path)
            ),
            "unknown",
        )
        with self._call_stats_lock:
            self._call_stats.update(
                [
                    ("status", str(status) if status is not None else "dropped"),
                    ("account", str(account)),
                    ("fault", fault or "none"),
                    ("route", route),
                ]
            )
            if status == 429:
                self._call_stats[("rateLimited", str(account))] += 1
        # One line per request; the API key is never logged.
        _logger.info(
            "%s %s -> %s account=%s%s (%.0f ms)",
            req.method,
            req.target,
            status if status is not None else "dropped",
            account,
            f" fault={fault}" if fault else "",
            entry["durationMs"],
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler):
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)
        self.connections = set()
        self.connections_lock = threading.Lock()
        self.connections_accepted = 0

    def close_connections(self):
        """Shut down keep-alive sockets so that clients see the restart."""
        with self.connections_lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError as exc:
                    _logger.debug("closing connection: %s", exc)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "CentrapaySandbox/1.0"
    timeout = 60  # idle keep-alive connections

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle
        # plus delayed ACKs add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
            self.server.connections_accepted += 1
            self.connection_number = self.server.connections_accepted

    def finish(self):
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        try:
            super().finish()
        except OSError as exc:
            _logger.debug("finishing connection: %s", exc)

    def log_message(self, fmt, *args):
        _logger.debug("%s " + fmt, self.client_address[0], *args)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_request(self):
        split = urlsplit(self.path)
        body = self._read_body()
        query = {
            k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()
        }
        return Request(
            method=self.command,
            path=split.path,
            target=split.path + (f"?{split.query}" if split.query else ""),
            query=query,
            headers=self.headers,
            body=body,
            client=self.client_address[0],
        )

    def _handle(self):
        sandbox = self.server.sandbox
        started = time.monotonic()
        try:
            req = self._read_request()
        except ValueError:
            self.close_connection = True  # the body framing is unknown
            self._send(error_response(bad_request("invalid request body framing")))
            return
        if req.path == "/_sandbox" or req.path.startswith("/_sandbox/"):
            response = sandbox.serve_control(req)
            self._send(response)
            _logger.info("control %s %s -> %s", req.method, req.target, response.status)
            return
        fault = sandbox._take_fault(req.method, req.path)
        if fault is None:
            response, account = sandbox.serve_api(req)
            stall = 0.0
        else:
            response, account, stall = self._apply_fault(sandbox, req, fault)
        # Logged before answering: a client that got its answer must find the
        # call in the log.
        status = response.status if response else None
        sandbox.record_call(
            req,
            status,
            account,
            fault and fault["kind"],
            started,
            connection=self.connection_number,
        )
        if stall:
            sandbox._stop_event.wait(stall)
        if response is None:
            self.close_connection = True  # no answer at all
            return
        self._send(response)

    def _apply_fault(self, sandbox, req, fault):
        """Return ``(response or None, account, seconds to stall before it)``."""
        kind = fault["kind"]
        if kind == "latency":
            sandbox._stop_event.wait(fault["seconds"])
            return (*sandbox.serve_api(req), 0.0)
        real, account = None, None
        if fault["commit"]:
            # The operation happens (state committed); only the answer is lost.
            real, account = sandbox.serve_api(req)
        if kind == "timeout":
            return None, account, fault["seconds"]
        if kind in ("drop", "commit_then_drop"):
            return None, account, 0.0
        if kind == "rate_limit":
            error = ApiError(
                429,
                "RATE_LIMIT_EXCEEDED",
                headers={"Retry-After": str(fault["retryAfter"])},
            )
            response = error_response(error)
        elif kind == "odd_body":
            # The operation happened; its answer is well-formed JSON with odd
            # values (``patch`` merged in), e.g. a status the docs never list.
            document = json.loads(real.body or b"{}")
            if isinstance(document, dict):
                document.update(fault["patch"])
            response = json_response(real.status, document)
        elif kind == "status":
            error = ApiError(fault["status"], fault["message"] or "SERVER ERROR")
            response = error_response(error)
        elif kind == "malformed":
            body = (
                real.body
                if real
                else b'{"id":"' + base58_id().encode() + b'","status":"ne'
            )
            response = Response(fault["status"], body[: max(1, len(body) // 2)])
        else:  # html
            status = fault["status"]
            title = f"{status} {HTTPStatus(status).phrase}"
            response = html_response(
                status,
                f"<html><head><title>{title}</title></head><body>"
                f"<center><h1>{title}</h1></center><hr><center>nginx</center>"
                "</body></html>",
            )
        return response, account, 0.0

    def _send(self, response):
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError) as exc:
            _logger.debug("client went away: %s", exc)
            self.close_connection = True
