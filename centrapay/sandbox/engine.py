"""Payment Request business logic of the sandbox (transport-independent).

Every public method runs under the store lock and either returns the JSON
document to answer with, or raises :class:`~centrapay.sandbox.util.ApiError`.
"""

import copy
import dataclasses
import heapq
import hmac
import re
import secrets
import typing

from . import barcodes, shortcode
from .util import (
    ApiError,
    bad_request,
    base58_id,
    forbidden,
    hex_id,
    iso,
    parse_int,
    uuid_hex,
)

MAX_AMOUNT = 100_000_000  # value must be positive and < 100000000 (doc §3.2)
MAX_EXPIRY_SECONDS = 365 * 24 * 3600
DEFAULT_EXPIRY_SECONDS = 120
CURRENCY = "NZD"
TEST_ASSET = "centrapay.nzd.test"
ASSET_DESCRIPTIONS = {
    "centrapay.nzd.test": "Centrapay NZD Test",
    "centrapay.nzd.main": "Centrapay NZD",
    "farmlands.nzd.test": "Farmlands Card Test",
    "external.test": "External Test",
}
# doc §6.5: tenders taken outside Centrapay; the sandbox merchant is a test one.
EXTERNAL_ASSET = "external.test"
AWAITING = ("awaiting-merchant", "awaiting-patron")
# doc §15.20: the reason of a request cancelled by a condition it cannot show.
CONDITION_CANCEL_REASON = "PAYMENT_DECLINED"
PHOTO_ID_CONDITION = ("photo-id-check", "Please check ID")
PAYMENT_OPTIONS = (TEST_ASSET,)
TAX_NUMBER = {"value": "123-456-789", "type": "nz-gst"}
SYSTEM_CRN = "crn::system:centrapay-sandbox"
PAY_MODES = ("partial-payment", "multi-asset-payment")
# Activities that can repeat on one request get their own short code (doc §4.2).
SUFFIXED_ACTIVITY_TYPES = ("payment", "refund")
# Fields of the summary view and of the list-by-externalRef items (examples).
SUMMARY_FIELDS = (
    "id",
    "url",
    "merchantId",
    "merchantName",
    "value",
    "createdAt",
    "expiresAt",
    "paymentOptions",
    "partialAllowed",
    "basketAmount",
    "remainingAmount",
    "status",
    "lineItems",
    "liveness",
)
LIST_ITEM_FIELDS = (
    "id",
    "url",
    "merchantName",
    "value",
    "createdAt",
    "expiresAt",
    "paymentOptions",
    "status",
    "liveness",
    "connectionId",
    "connectionStatus",
)
STRING_FIELDS = (
    "externalRef",
    "terminalId",
    "deviceId",
    "operatorId",
    "purchaseOrderRef",
    "invoiceRef",
    "createdByAccountName",
    "connectionId",
    "paymentLinkId",
    "barcodeType",
)
FLAG_FIELDS = ("conditionsEnabled", "patronNotPresent", "partialAllowed", "preAuth")


@dataclasses.dataclass
class Settings:
    """Runtime-tunable behaviour (also settable through ``/_sandbox/settings``)."""

    rate_limit: int = 200
    # doc §15.6: the refund window is undocumented; 90 days by default.
    refund_window_seconds: float = 90 * 24 * 3600
    refund_delay_seconds: float = 0.0
    void_window_seconds: float = 24 * 3600
    page_size: int = 25
    # Some assets refund only in full (doc §6.6 PARTIAL_REFUNDS_NOT_ALLOWED): 0.
    partial_refunds: int = 1
    # doc §6.13: a settlement is confirmed this long after its day is over.
    settlement_confirm_seconds: float = 24 * 3600

    FIELDS: typing.ClassVar[dict] = {
        "rateLimit": "rate_limit",
        "refundWindowSeconds": "refund_window_seconds",
        "refundDelaySeconds": "refund_delay_seconds",
        "voidWindowSeconds": "void_window_seconds",
        "pageSize": "page_size",
        "partialRefunds": "partial_refunds",
        "settlementConfirmSeconds": "settlement_confirm_seconds",
    }

    def as_json(self):
        return {key: getattr(self, attr) for key, attr in self.FIELDS.items()}

    def update(self, values):
        """Apply ``{camelCaseName: number}``; all-or-nothing."""
        for key, value in values.items():
            if key not in self.FIELDS:
                raise bad_request(f"unknown setting {key}")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise bad_request(f"{key} must be a number")
            if value < (1 if key == "pageSize" else 0):
                raise bad_request(f"{key} is out of range")
        for key, value in values.items():
            attr = self.FIELDS[key]
            setattr(self, attr, type(getattr(self, attr))(value))


@dataclasses.dataclass
class Actor:
    """Who is calling: the merchant API key, a patron, or the sandbox itself."""

    crn: str
    account: str
    is_patron: bool = False


def _money(amount):
    return {"amount": str(amount), "currency": CURRENCY}


def settlement_ts(ts):
    """When the day of ``ts`` (UTC) is over and its settlement is made (doc §6.13)."""
    return (int(ts) // 86400 + 1) * 86400


def _settlement_date(ts):
    """Expected settlement: the ``createdAt`` of the settlement that covers it."""
    return iso(settlement_ts(ts))


class Engine:
    """The emulated Payment Requests API.

    One merchant account (its key, config, merchant id) comes with the sandbox;
    :meth:`add_account` makes more. A merchant key sees only its own account's
    requests and activities; a patron may read and pay any request.
    """

    def __init__(self, store, settings, notify, pay_url):
        self.store = store
        self.settings = settings
        self._notify = notify
        self._pay_url = pay_url

    # -- identity ---------------------------------------------------------------

    @property
    def creds(self):
        return self.store.state["credentials"]

    @property
    def merchant_actor(self):
        return self.actor_for(self.creds)

    @staticmethod
    def actor_for(creds):
        """The merchant-terminal actor of one account's credentials."""
        account = creds["merchantAccountId"]
        return Actor(crn=f"crn:{account}:api-key:sandbox-terminal", account=account)

    def accounts(self):
        """Every merchant account's credentials, the sandbox's own first."""
        return [self.creds, *self.store.state["accounts"]]

    def account_for_key(self, api_key):
        """The credentials an API key belongs to, or None."""
        found = None
        for creds in self.accounts():
            # Every key is compared, in constant time each.
            if hmac.compare_digest(api_key.encode(), creds["apiKey"].encode()):
                found = creds
        return found

    def add_account(self, merchant_name=None, api_key=None):
        """Create another merchant account (key, config, ids); return its creds."""
        with self.store.mutate() as state:
            if api_key and self.account_for_key(api_key):
                raise bad_request("apiKey is taken")
            number = len(state["accounts"]) + 2
            creds = {
                "apiKey": api_key or secrets.token_urlsafe(32),
                "merchantConfigId": "mc_" + hex_id(24),
                "merchantId": base58_id(),
                "merchantAccountId": base58_id(),
                "merchantName": merchant_name or f"Centrapay Sandbox Merchant {number}",
            }
            state["accounts"].append(creds)
            self.store.touch()
            return dict(creds)

    def _creds_of(self, actor):
        """The credentials of a merchant actor (the sandbox's own otherwise)."""
        if actor is not None and not actor.is_patron:
            for creds in self.accounts():
                if creds["merchantAccountId"] == actor.account:
                    return creds
        return self.creds

    @property
    def patron_actor(self):
        patron = self.store.state["patron"]
        return Actor(
            crn=f"crn::user:{patron['userId']}",
            account=patron["accountId"],
            is_patron=True,
        )

    # -- lookup and lazy expiry -------------------------------------------------

    def _record(self, pr_id, actor=None):
        """The request; a merchant ``actor`` only finds its own account's."""
        rec = self.store.state["paymentRequests"].get(pr_id)
        if rec is None or not self._visible(rec, actor):
            # doc §15.8: unknown ids are 403 Forbidden (prose), not 404.
            raise forbidden(reason="Payment Request not found")
        self._refresh(rec)
        return rec

    def _refresh(self, rec):
        """Lazily expire a ``new`` request once ``now >= expiresAt``."""
        meta, pr = rec["meta"], rec["data"]
        if pr["status"] == "new" and self.store.now() >= meta["expiresTs"]:
            self._set_status(rec, "expired", meta["expiresTs"])
            self._add_activity(
                rec, "expiry", self._value(pr), SYSTEM_CRN, ts=meta["expiresTs"]
            )

    @staticmethod
    def _visible(rec, actor):
        return (
            actor is None
            or actor.is_patron
            or rec["meta"]["accountId"] == (actor.account)
        )

    def _refresh_all(self):
        for rec in self.store.state["paymentRequests"].values():
            self._refresh(rec)

    def _set_status(self, rec, status, ts):
        rec["data"]["status"] = status
        rec["data"]["updatedAt"] = iso(ts)
        self.store.touch()

    @staticmethod
    def _value(pr):
        return int(pr["value"]["amount"])

    # -- activities -------------------------------------------------------------

    def _add_activity(self, rec, type_, amount, created_by, ts=None, **extra):
        meta, pr = rec["meta"], rec["data"]
        ts = self.store.now() if ts is None else ts
        number = len(meta["activityIds"]) + 1
        short = pr["shortCode"]
        if type_ in SUFFIXED_ACTIVITY_TYPES:
            # doc §15.7: suffix = 2-digit activity number, as in the Farmlands
            # guide's "CP-C7F-ZS5-03" (other examples disagree on the width).
            short = f"{short}-{number:02d}"
        activity = {
            "id": uuid_hex(),
            "type": type_,
            "value": _money(amount),
            "paymentRequestId": pr["id"],
            "merchantId": pr["merchantId"],
            "merchantName": pr["merchantName"],
            "merchantAccountId": meta["accountId"],
            "merchantConfigId": pr["configId"],
            "createdAt": iso(ts),
            "createdBy": created_by,
            "paymentRequestCreatedBy": meta["createdBy"],
            "activityNumber": str(number),
            "shortCode": short,
        }
        activity.update({k: v for k, v in extra.items() if v is not None})
        self.store.state["activities"][activity["id"]] = {
            "data": activity,
            "ts": ts,
            "seq": self.store.next_seq(),
        }
        meta["activityIds"].append(activity["id"])
        self.store.touch()
        return activity

    def _activity(self, activity_id):
        return self.store.state["activities"][activity_id]["data"]

    def _activities_of(self, rec, type_=None):
        acts = [self._activity(a) for a in rec["meta"]["activityIds"]]
        return [a for a in acts if type_ is None or a["type"] == type_]

    # -- create -----------------------------------------------------------------

    def create(self, body, actor):
        """E1 ``POST /api/payment-requests``."""
        with self.store.mutate():
            fields = self._validate_create(body, self._creds_of(actor))
            return copy.deepcopy(self._create(fields, actor))

    def _validate_create(self, body, creds):
        """Return the normalised create fields; 400s first, then 403s."""
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        config_id = body.get("configId")
        if not config_id:
            raise bad_request("configId is required")
        if not isinstance(config_id, str):
            raise bad_request("configId must be a string")
        amount, currency = self._validate_value(body.get("value"))
        fields = {"value": _money(amount)}
        # doc §15.5: string or integer accepted, 1 s .. 1 year, emitted as int.
        expiry = body.get("expirySeconds", DEFAULT_EXPIRY_SECONDS)
        fields["expirySeconds"] = parse_int(expiry, "expirySeconds")
        if fields["expirySeconds"] > MAX_EXPIRY_SECONDS:
            raise bad_request(f"expirySeconds must be at most {MAX_EXPIRY_SECONDS}")
        fields.update(self._validate_typed(body, STRING_FIELDS, str, "a string"))
        if len(fields.get("invoiceRef", "")) > 128:
            raise bad_request("invoiceRef must be less than or equal to 128 characters")
        fields.update(self._validate_typed(body, FLAG_FIELDS, bool, "a boolean"))
        basket = None
        if fields.get("partialAllowed"):
            if body.get("basketAmount") is None:
                raise bad_request(
                    "basketAmount is required when partialAllowed is true"
                )
            basket = parse_int(body["basketAmount"], "basketAmount")
            if basket < amount:
                raise bad_request("basketAmount must not be less than value.amount")
            fields["basketAmount"] = str(basket)
        if body.get("lineItems") is not None:
            items = self._validate_line_items(body["lineItems"])
            total = sum(int(item["price"]) for item in items)
            # doc §10.1: prices sum to value.amount, or to basketAmount when
            # partial payments are allowed.
            if total not in (amount, basket):
                raise bad_request("LINE_ITEMS_SUM_CHECK_FAILED")
            fields["lineItems"] = items
        if body.get("barcode") is not None:
            self._check_barcode(body["barcode"])
        self._check_create_rules(body, config_id, currency, creds)
        if body.get("barcode") is not None:
            fields["barcode"] = body["barcode"]
            fields["_scanned"] = self._scanned(body["barcode"])
            if fields["_scanned"] is None:
                raise forbidden("PATRON_CODE_INVALID", "no such patron code or card")
        fields["configId"] = config_id
        return fields

    @staticmethod
    def _validate_value(value):
        if value is None:
            raise bad_request("value is required")
        if not isinstance(value, dict):
            raise bad_request("value must be a monetary object")
        if value.get("amount") is None:
            raise bad_request("amount is required")
        amount = parse_int(value["amount"], "value.amount")
        if amount >= MAX_AMOUNT:
            raise bad_request("value.amount must be less than 100000000")
        currency = value.get("currency")
        if not currency:
            raise bad_request("currency is required")
        if not isinstance(currency, str) or not re.fullmatch("[A-Z]{3}", currency):
            raise bad_request("currency must be an ISO-4217 code")
        return amount, currency

    @staticmethod
    def _validate_typed(body, names, type_, label):
        fields = {}
        for name in names:
            if body.get(name) is not None:
                if not isinstance(body[name], type_):
                    raise bad_request(f"{name} must be {label}")
                fields[name] = body[name]
        return fields

    @staticmethod
    def _check_create_rules(body, config_id, currency, creds):
        """Business-rule checks (403), after request validation (400)."""
        configs = (creds["merchantConfigId"], *creds.get("moreConfigIds", ()))
        if config_id not in configs:
            # doc §14.2: the code for an unknown config is undocumented; the
            # generic 403 is used, with a reason for humans.
            raise forbidden(reason=f"Merchant Config {config_id} not found")
        if currency != CURRENCY or body.get("preAuth"):
            # The sandbox's assets (centrapay.nzd.test, and farmlands.nzd.test
            # for Farmlands cards) are NZD only; pre-auth is not emulated.
            raise forbidden("NO_AVAILABLE_PAYMENT_OPTIONS")
        if body.get("redirectCancelUrl") or body.get("redirectPaidUrl"):
            raise forbidden("REDIRECT_URL_INVALID", "no allowedRedirectUrls configured")
        if body.get("collectionId") is not None:
            raise forbidden("TOKEN_COLLECTION_NOT_FOUND")

    @staticmethod
    def _validate_line_items(items, where="lineItems"):
        if not isinstance(items, list):
            raise bad_request(f"{where} must be an array")
        clean = []
        for index, item in enumerate(items):
            label = f"{where}[{index}]"
            if not isinstance(item, dict):
                raise bad_request(f"{label} must be an object")
            for name in ("name", "qty", "price"):
                if item.get(name) in (None, ""):
                    raise bad_request(f"{label}.{name} is required")
            if not isinstance(item["name"], str):
                raise bad_request(f"{label}.name must be a string")
            # A negative price is allowed: basket-wide discounts (doc §10.1).
            price = parse_int(
                item["price"], f"{label}.price", allow_negative=True, allow_zero=True
            )
            item = dict(item)
            item["price"] = str(price)
            for name in ("qty", "tax", "discount"):
                if isinstance(item.get(name), (int, float)) and not isinstance(
                    item.get(name), bool
                ):
                    item[name] = str(item[name])
            clean.append(item)
        return clean

    @staticmethod
    def _check_barcode(barcode):
        """The 400s of a scanned code: up to 16 digits (doc §13), Luhn-checked
        unless it is a Farmlands test card, whose numbers fail it (doc §15.19)."""
        if not barcodes.is_digits(barcode):
            raise bad_request("barcode must be a string of digits")
        if len(barcode) > barcodes.MAX_DIGITS:
            raise bad_request("barcode must be at most 16 digits")
        if barcode not in barcodes.FARMLANDS_CARDS and not barcodes.luhn_ok(barcode):
            raise bad_request("CHECKSUM_FAILED")

    # -- scanned codes (barcode flow) -------------------------------------------

    def _patron_codes(self):
        """``{barcode: patron code}``: the fixed ones, then those made by tests."""
        patron = self.store.state["patron"]
        codes = {
            code: {
                "id": barcodes.stable_id(code),
                "barcode": code,
                "assetId": patron["assetId"],
                "accountId": patron["accountId"],
                "testScenarioName": scenario,
            }
            for code, scenario in barcodes.FIXED_PATRON_CODES.items()
        }
        codes.update(self.store.state["patronCodes"])
        return codes

    def _scanned(self, code):
        """What a scanned code is, or None if the sandbox does not know it."""
        if code in barcodes.FARMLANDS_CARDS:
            return {
                "provider": "farmlands",
                "patronCodeId": barcodes.stable_id(code),
                "refusal": barcodes.FARMLANDS_CARDS[code],
                "scenario": None,
            }
        found = self._patron_codes().get(code)
        if found is None:
            return None
        return {
            "provider": "centrapay",
            "patronCodeId": found["id"],
            "refusal": None,
            "scenario": found.get("testScenarioName"),
        }

    def decode(self, code):
        """E17: ``{provider, displayName}`` of a scanned code (doc §6.12)."""
        with self.store.mutate():
            if (
                barcodes.is_digits(code)
                and len(code) <= barcodes.MAX_DIGITS
                and code not in barcodes.FARMLANDS_CARDS
                and not barcodes.luhn_ok(code)
            ):
                # doc §15.21: as the patron-code lookup by barcode answers.
                raise bad_request("CHECKSUM_FAILED")
            scanned = self._scanned(code)
            if scanned is None:
                raise forbidden("UNKNOWN_CODE")
            provider = scanned["provider"]
            return {
                "provider": provider,
                "displayName": barcodes.PROVIDERS[provider]["displayName"],
            }

    def patron_codes(self):
        """Control: every code the sandbox knows, patron codes then cards."""
        with self.store.mutate():
            items = [
                dict(code, provider="centrapay")
                for code in self._patron_codes().values()
            ]
            items += [
                {"barcode": card, "provider": "farmlands", "refusal": refusal}
                for card, refusal in barcodes.FARMLANDS_CARDS.items()
            ]
            return copy.deepcopy(items)

    def add_patron_code(self, test_scenario_name=None):
        """Control: a new patron code of the sandbox patron (doc §13)."""
        if test_scenario_name not in (None, *barcodes.TEST_SCENARIOS):
            raise bad_request(
                f"testScenarioName must be one of {', '.join(barcodes.TEST_SCENARIOS)}"
            )
        with self.store.mutate() as state:
            known = self._patron_codes()
            prefixes = sorted(barcodes.CENTRAPAY_PREFIXES)
            while True:
                code = barcodes.patron_barcode(
                    secrets.randbelow(10**9), secrets.choice(prefixes)
                )
                if code not in known:
                    break
            patron = state["patron"]
            doc = {
                "id": base58_id(),
                "barcode": code,
                "assetId": patron["assetId"],
                "accountId": patron["accountId"],
                "createdAt": iso(self.store.now()),
                "testScenarioName": test_scenario_name,
            }
            state["patronCodes"][code] = doc
            self.store.touch()
            return dict(doc)

    def _new_short_code(self):
        taken = {
            r["data"]["shortCode"] for r in self.store.state["paymentRequests"].values()
        }
        while True:
            code = shortcode.generate()
            if code not in taken:
                return code

    def _create(self, fields, actor):
        now = self.store.now()
        creds = self._creds_of(actor)
        pr_id = base58_id()
        amount = int(fields["value"]["amount"])
        scanned = fields.pop("_scanned", None)
        # A scanned code pays with its own asset (doc §6.1, barcode guide).
        assets = PAYMENT_OPTIONS
        if scanned:
            assets = (barcodes.PROVIDERS[scanned["provider"]]["asset"],)
        pr = {
            "id": pr_id,
            "shortCode": self._new_short_code(),
            "url": self._pay_url(pr_id),
            "merchantId": creds["merchantId"],
            "merchantName": creds["merchantName"],
            "configId": creds["merchantConfigId"],
            "value": fields["value"],
            "paymentOptions": [
                {"assetType": asset, "amount": str(amount)} for asset in assets
            ],
            "status": "new",
            "createdAt": iso(now),
            "updatedAt": iso(now),
            "expiresAt": iso(now + fields["expirySeconds"]),
            "liveness": "test",
            "expirySeconds": fields["expirySeconds"],
            "merchantConditions": [],
            "createdByAccountId": creds["merchantAccountId"],
            "createdByAccountName": creds["merchantName"],
            "taxNumber": dict(TAX_NUMBER),
            "remainingAmount": str(amount),
        }
        for name, value in fields.items():
            if name not in ("value", "expirySeconds"):
                pr[name] = value
        if "connectionId" in pr:
            pr["connectionStatus"] = "active"  # experimental; echoed as in the example
        if scanned:
            pr["patronCodeId"] = scanned["patronCodeId"]
        rec = {
            "data": pr,
            "meta": {
                "createdTs": now,
                "expiresTs": now + fields["expirySeconds"],
                "paidTs": None,
                "accountId": creds["merchantAccountId"],
                "createdBy": actor.crn,
                "activityIds": [],
                "refundRefs": {},
                "seq": self.store.next_seq(),
                "scanned": scanned,
            },
        }
        self.store.state["paymentRequests"][pr_id] = rec
        self._add_activity(rec, "request", amount, actor.crn, ts=now)
        return pr

    # -- reads ------------------------------------------------------------------

    def get(self, pr_id, actor=None):
        """E2 ``GET /api/payment-requests/{id}``."""
        with self.store.mutate():
            rec = self._record(pr_id, actor)
            self._poll(rec)
            return copy.deepcopy(rec["data"])

    def pay_page(self, pr_id):
        """The request and the seconds left before it expires (pay page)."""
        with self.store.mutate():
            rec = self._record(pr_id)
            left = rec["meta"]["expiresTs"] - self.store.now()
            return copy.deepcopy(rec["data"]), left

    def get_by_short_code(self, code, actor=None):
        """E3: the latest request with that short code."""
        normalized = shortcode.normalize(code)
        if normalized is None:
            raise bad_request("CHECKSUM_FAILED")
        with self.store.mutate():
            matches = [
                rec
                for rec in self.store.state["paymentRequests"].values()
                if rec["data"]["shortCode"] == normalized and self._visible(rec, actor)
            ]
            if not matches:
                raise forbidden(reason="Payment Request not found")
            rec = max(matches, key=lambda r: (r["meta"]["createdTs"], r["meta"]["seq"]))
            self._refresh(rec)
            return copy.deepcopy(rec["data"])

    def summary(self, pr_id):
        """E5: summary view, only while the request is ``new``."""
        with self.store.mutate():
            pr = self._record(pr_id)["data"]
            if pr["status"] != "new":
                # doc §4: undocumented error; reuse the pay-side status codes.
                raise forbidden(f"REQUEST_{pr['status'].upper()}")
            return {k: copy.deepcopy(pr[k]) for k in SUMMARY_FIELDS if k in pr}

    def list_by_external_ref(
        self, external_ref, account_id, page_key, limit, actor=None
    ):
        """E4: requests with that ``externalRef``, newest first, paginated."""
        if not account_id:
            raise bad_request("merchantAccountId is required")
        limit = self._page_limit(limit)
        with self.store.mutate():
            if account_id != self._creds_of(actor)["merchantAccountId"]:
                raise forbidden()
            recs = [
                rec
                for rec in self.store.state["paymentRequests"].values()
                if rec["data"].get("externalRef") == external_ref
                and rec["meta"]["accountId"] == account_id
            ]
            for rec in recs:
                self._refresh(rec)
            recs.sort(
                key=lambda r: (r["meta"]["createdTs"], r["meta"]["seq"]), reverse=True
            )
            keys = [
                f"PaymentRequest#{r['data']['id']}|{r['data']['createdAt']}"
                for r in recs
            ]
            items = [
                {
                    k: copy.deepcopy(r["data"][k])
                    for k in LIST_ITEM_FIELDS
                    if k in r["data"]
                }
                for r in recs
            ]
            return self._paginate(items, keys, page_key, limit)

    def activities(self, pr_id, actor=None):
        """E9: activities of one request, newest first."""
        with self.store.mutate():
            rec = self._record(pr_id, actor)
            return {"items": copy.deepcopy(self._activities_of(rec)[::-1])}

    def merchant_activities(self, merchant_id, page_key, limit, actor=None):
        """E10: all activities of the merchant, newest first, paginated."""
        if not merchant_id:
            raise bad_request("merchantId is required")
        limit = self._page_limit(limit)
        with self.store.mutate():
            if merchant_id != self._creds_of(actor)["merchantId"]:
                raise forbidden()
            self._refresh_all()
            rows = [
                row
                for row in self.store.state["activities"].values()
                if row["data"]["merchantId"] == merchant_id
            ]

            def order(row):
                return row["ts"], row["seq"]

            # Only the page is sorted out and copied: a long-running sandbox
            # holds many thousands of activities, and the feed is read often.
            start = 0
            if page_key:
                rows.sort(key=order, reverse=True)
                keys = [self._activity_key(row["data"]) for row in rows]
                if page_key not in keys:
                    raise bad_request("pageKey is invalid")
                start = keys.index(page_key) + 1
            else:
                rows = heapq.nlargest(limit + 1, rows, key=order)
            page = {
                "items": [copy.deepcopy(r["data"]) for r in rows[start : start + limit]]
            }
            if start + limit < len(rows):
                # doc §15.9: the sandbox always names it nextPageKey.
                page["nextPageKey"] = self._activity_key(
                    rows[start + limit - 1]["data"]
                )
            return page

    @staticmethod
    def _activity_key(act):
        """Opaque page key, shaped like the docs' (it needs URL-encoding)."""
        number = int(act["activityNumber"])
        return (
            f"PaymentRequest#{act['paymentRequestId']}|Activity#{number:015d}"
            f"|{act['id']}|{act['createdAt']}"
        )

    def _page_limit(self, limit):
        if limit in (None, ""):
            return self.settings.page_size
        limit = parse_int(limit, "paginationLimit")
        return min(limit, 1000)

    @staticmethod
    def _paginate(items, keys, page_key, limit):
        start = 0
        if page_key:
            if page_key not in keys:
                raise bad_request("pageKey is invalid")
            start = keys.index(page_key) + 1
        page = {"items": items[start : start + limit]}
        if start + limit < len(items):
            # doc §15.9: the sandbox always names it nextPageKey.
            page["nextPageKey"] = keys[start + limit - 1]
        return page

    # -- pay --------------------------------------------------------------------

    def pay(self, pr_id, body, actor):
        """E6 ``POST /api/payment-requests/{id}/pay`` (patron side)."""
        asset_type, key, mode, amount = self._validate_pay(body)
        with self.store.mutate() as state:
            rec = self._record(pr_id)
            # doc §15.10: the key is optional (the guides omit it); when given,
            # a repeat returns the stored activity instead of paying again.
            idem = f"{pr_id}|{key}" if key else None
            if idem in state["payIdempotency"]:
                return copy.deepcopy(self._activity(state["payIdempotency"][idem]))
            pr = rec["data"]
            external = asset_type.startswith("external.")
            if external:
                amount = self._check_external(pr, asset_type, amount)
            else:
                self._raise_conditions(rec)
                status = pr["status"]
                if status != "new":
                    raise forbidden(f"REQUEST_{status.upper()}")
                if asset_type not in {o["assetType"] for o in pr["paymentOptions"]}:
                    raise forbidden("INVALID_ASSET_TYPE")
                if self._awaiting(pr):
                    # doc §15.20: the payment waits for the conditions.
                    raise forbidden("PAYMENT_DECLINED", "a payment condition awaits")
                amount = self._check_amount(pr, amount, mode)
                if asset_type.startswith("farmlands.nzd.") and not body.get(
                    "externalPaymentRef"
                ):
                    # doc §6.5: required for farmlands.nzd.* payments.
                    raise bad_request("externalPaymentRef is required")
            activity = self._take_payment(
                rec,
                asset_type,
                amount,
                mode,
                actor,
                key=key,
                asset_id=body.get("assetId"),
                external_ref=body.get("externalPaymentRef"),
                external=external,
            )
            if idem:
                state["payIdempotency"][idem] = activity["id"]
            return copy.deepcopy(activity)

    @staticmethod
    def _check_amount(pr, amount, mode):
        """The amount a patron payment takes (all that remains by default)."""
        remaining = int(pr["remainingAmount"])
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise bad_request("amount must not exceed remainingAmount")
        if amount < remaining and mode is None:
            raise forbidden("INSUFFICIENT_ASSET_VALUE")
        if amount < remaining and mode == "partial-payment":
            if not pr.get("partialAllowed"):
                raise forbidden("PAYMENT_DECLINED", "partialAllowed is not set")
        return amount

    @staticmethod
    def _check_external(pr, asset_type, amount):
        """An external tender (doc §6.5, §15.22): on a ``new`` request, or on a
        ``paid`` one for the ``remainingAmount`` a partial payment left."""
        if asset_type != EXTERNAL_ASSET:
            raise forbidden("INVALID_ASSET_TYPE", "the sandbox merchant is a test one")
        remaining = int(pr["remainingAmount"])
        status = pr["status"]
        if status != "new" and not (status == "paid" and remaining > 0):
            raise forbidden(f"REQUEST_{status.upper()}")
        amount = remaining if amount is None else amount
        if amount > remaining:
            raise bad_request("amount must not exceed remainingAmount")
        return amount

    def _take_payment(
        self,
        rec,
        asset_type,
        amount,
        mode,
        actor,
        *,
        key=None,
        asset_id=None,
        external_ref=None,
        external=False,
    ):
        """Record a payment; the request is paid once covered, or at once with
        ``partial-payment``. Returns the ``payment`` activity."""
        pr, meta = rec["data"], rec["meta"]
        now = self.store.now()
        remaining = int(pr["remainingAmount"]) - amount
        completes = pr["status"] == "new" and (
            remaining == 0 or mode == "partial-payment"
        )
        pr["remainingAmount"] = str(remaining)
        self._add_paid_by(pr, asset_type, amount, now, actor)
        if completes:
            meta["paidTs"] = now
            self._set_status(rec, "paid", now)
        else:
            pr["updatedAt"] = iso(now)
        activity = self._add_activity(
            rec,
            "payment",
            amount,
            actor.crn,
            ts=now,
            assetType=asset_type,
            idempotencyKey=key,
            mode=mode,
            externalPaymentRef=external_ref,
            external=True if external else None,
            paidBy=copy.deepcopy(pr["paidBy"]) if completes else None,
        )
        meta.setdefault("payments", {})[activity["id"]] = {
            "assetId": None
            if external
            else asset_id or self.store.state["patron"]["assetId"],
            "external": external,
        }
        if completes:
            # doc §15.13: no separate "paid" activity (the activity examples
            # go request → payment → refund); the paid notification carries
            # the completing payment activity, with paidBy.
            self._notify("payment-request:paid", activity)
        return activity

    # -- barcode approval, Quick Pay and conditions ------------------------------

    @property
    def system_actor(self):
        return Actor(crn=SYSTEM_CRN, account="")

    @staticmethod
    def _awaiting(pr):
        conditions = pr.get("merchantConditions") or []
        return [c for c in conditions if c["status"] in AWAITING]

    def _poll(self, rec):
        """What a read (E2) sets off: conditions are worked out (doc §6.2), and
        a Quick Pay request is charged on its first read (doc §6.2)."""
        self._raise_conditions(rec)
        meta = rec["meta"]
        scanned = meta.get("scanned")
        if (
            scanned
            and barcodes.PROVIDERS[scanned["provider"]]["quickPay"]
            and not meta.get("quickPayTriggered")
        ):
            meta["quickPayTriggered"] = True
            meta["approved"] = {"amount": None, "mode": None}
            self.store.touch()
        self._settle(rec)

    def _raise_conditions(self, rec):
        """The test scenario's photo-id condition, once (doc §10.2, §13)."""
        meta, pr = rec["meta"], rec["data"]
        scanned = meta.get("scanned") or {}
        if (
            pr["status"] != "new"
            or meta.get("scenarioRaised")
            or scanned.get("scenario") != barcodes.PHOTO_ID_SCENARIO
        ):
            return
        meta["scenarioRaised"] = True
        self.store.touch()
        if pr.get("patronNotPresent"):
            return  # doc §15.20: a photo-id check cannot be made; suppressed
        self._add_condition(rec, *PHOTO_ID_CONDITION, "awaiting-merchant")

    def _add_condition(self, rec, name, message, status):
        pr = rec["data"]
        if not pr.get("conditionsEnabled"):
            # doc §10.2: a condition the POS cannot answer cancels the request.
            self._cancel(rec, CONDITION_CANCEL_REASON, self.system_actor)
            return None
        conditions = pr.setdefault("merchantConditions", [])
        # doc §15.11: ids are strings, numbered from "1" as in the examples.
        condition = {
            "id": str(len(conditions) + 1),
            "name": name,
            "message": message,
            "status": status,
        }
        conditions.append(condition)
        pr["updatedAt"] = iso(self.store.now())
        self.store.touch()
        return condition

    def _settle(self, rec):
        """Take an approved payment once no condition awaits an answer."""
        meta, pr = rec["meta"], rec["data"]
        spec = meta.get("approved")
        if spec is None or pr["status"] != "new" or self._awaiting(pr):
            return
        del meta["approved"]
        self.store.touch()
        scanned = meta["scanned"]
        if scanned["refusal"]:
            # doc §15.19: the card refuses; the request is cancelled.
            self._cancel(rec, scanned["refusal"], self.system_actor)
            return
        provider = scanned["provider"]
        remaining = int(pr["remainingAmount"])
        amount = min(spec["amount"] or remaining, remaining)
        self._take_payment(
            rec,
            barcodes.PROVIDERS[provider]["asset"],
            amount,
            spec["mode"],
            self.patron_actor,
            # doc §6.5: Farmlands payments carry an external reference.
            external_ref=f"FL-{pr['shortCode']}" if provider == "farmlands" else None,
        )

    def patron_code_request(self, actor):
        """E15: the latest ``new`` request made with one of the patron's codes."""
        with self.store.mutate():
            if not actor.is_patron:
                raise forbidden(reason="patron codes belong to a patron")
            found = None
            for rec in self.store.state["paymentRequests"].values():
                scanned = rec["meta"].get("scanned") or {}
                if scanned.get("provider") != "centrapay":
                    continue
                self._refresh(rec)
                if rec["data"]["status"] != "new":
                    continue
                order = (rec["meta"]["createdTs"], rec["meta"]["seq"])
                if found is None or order > found[0]:
                    found = (order, rec)
            if found is None:
                # Undocumented; the generic "not found" of doc §15.8.
                raise forbidden(reason="no new Payment Request on your patron codes")
            return copy.deepcopy(found[1]["data"])

    def approve(self, pr_id, body):
        """Control: the patron approves a barcode request in the app; the
        payment is taken once no condition awaits. Returns the request."""
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        mode = body.get("mode")
        if mode is not None and mode not in PAY_MODES:
            raise bad_request(f"mode must be one of {', '.join(PAY_MODES)}")
        amount = body.get("amount")
        amount = None if amount is None else parse_int(amount, "amount")
        with self.store.mutate():
            rec = self._record(pr_id)
            scanned = rec["meta"].get("scanned")
            if not scanned or scanned["provider"] != "centrapay":
                raise bad_request("only a request with a patron barcode is approved")
            self._raise_conditions(rec)
            pr = rec["data"]
            if pr["status"] != "new":
                raise forbidden(f"REQUEST_{pr['status'].upper()}")
            amount = self._check_amount(pr, amount, mode)
            rec["meta"]["approved"] = {"amount": amount, "mode": mode}
            self.store.touch()
            self._settle(rec)
            return copy.deepcopy(pr)

    def _condition(self, rec, condition_id):
        for condition in rec["data"].get("merchantConditions") or []:
            if condition["id"] == str(condition_id):
                return condition
        raise forbidden(reason="Payment Condition not found")

    def answer_condition(self, pr_id, condition_id, accept, actor):
        """E11/E12: accept or decline a condition (doc §6.8)."""
        with self.store.mutate():
            rec = self._record(pr_id, actor)
            condition = self._condition(rec, condition_id)
            pr = rec["data"]
            if pr["status"] != "new":
                raise forbidden(f"REQUEST_{pr['status'].upper()}")
            side = "patron" if actor.is_patron else "merchant"
            if condition["status"] in AWAITING:
                if condition["status"] != f"awaiting-{side}":
                    raise forbidden(
                        f"{side.upper()}_NOT_AUTHORIZED", condition["status"]
                    )
            else:
                # doc §15.20: answering a void condition fails as a set one does.
                raise forbidden("CONDITION_ALREADY_SET", condition["status"])
            condition["status"] = "accepted" if accept else "declined"
            activity = self._add_activity(
                rec,
                "accept-condition" if accept else "decline-condition",
                self._value(pr),
                actor.crn,
                conditionId=condition["id"],
            )
            pr["updatedAt"] = activity["createdAt"]
            if accept:
                self._settle(rec)
            else:
                reason = f"DECLINED_BY_{side.upper()}"
                self._cancel(rec, reason, actor)
            return copy.deepcopy(activity)

    def add_condition(self, pr_id, body):
        """Control: a condition appears on a ``new`` request; returns the request."""
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        for name in ("name", "message"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise bad_request(f"{name} is required")
        status = body.get("status", "awaiting-merchant")
        if status not in AWAITING:
            raise bad_request(f"status must be one of {', '.join(AWAITING)}")
        with self.store.mutate():
            rec = self._record(pr_id)
            if rec["data"]["status"] != "new":
                raise forbidden(f"REQUEST_{rec['data']['status'].upper()}")
            self._add_condition(rec, body["name"], body["message"], status)
            return copy.deepcopy(rec["data"])

    def void_condition(self, pr_id, condition_id):
        """Control: a condition no longer applies (linked conditions, doc §10.2)."""
        with self.store.mutate():
            rec = self._record(pr_id)
            condition = self._condition(rec, condition_id)
            if condition["status"] not in AWAITING:
                raise forbidden("CONDITION_ALREADY_SET", condition["status"])
            condition["status"] = "void"
            rec["data"]["updatedAt"] = iso(self.store.now())
            self.store.touch()
            self._settle(rec)
            return copy.deepcopy(rec["data"])

    @staticmethod
    def _validate_pay(body):
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        asset_type = body.get("assetType")
        if not asset_type or not isinstance(asset_type, str):
            raise bad_request("assetType is required")
        key = body.get("idempotencyKey")
        if key is not None and (not isinstance(key, str) or not key):
            raise bad_request("idempotencyKey must be a non-empty string")
        mode = body.get("mode")
        if mode is not None and mode not in PAY_MODES:
            raise bad_request(f"mode must be one of {', '.join(PAY_MODES)}")
        amount = body.get("amount")
        amount = None if amount is None else parse_int(amount, "amount")
        for name in ("assetId", "transactionId", "authorization", "externalPaymentRef"):
            if body.get(name) is not None and not isinstance(body[name], str):
                raise bad_request(f"{name} must be a string")
        return asset_type, key, mode, amount

    def _add_paid_by(self, pr, asset_type, amount, now, actor):
        totals = pr.setdefault("paidBy", {"assetTotals": []})["assetTotals"]
        for total in totals:
            if total["type"] == asset_type:
                total["total"]["amount"] = str(int(total["total"]["amount"]) + amount)
                return
        totals.append(
            {
                "type": asset_type,
                "description": ASSET_DESCRIPTIONS.get(asset_type, asset_type),
                "settlementDate": _settlement_date(now),
                "total": _money(amount),
                "payerAccountId": actor.account,
            }
        )

    # -- refunds and void -------------------------------------------------------

    def _refund_state(self, rec):
        """Per payment activity: (activity, amount still refundable)."""
        refunded = {}
        for act in self._activities_of(rec, "refund"):
            for part in act.get("strategy", {}).get("refunds", []):
                pid = part["completedPaymentId"]
                refunded[pid] = refunded.get(pid, 0) + int(part["amount"])
        # doc §15.22: an external tender is not Centrapay's to give back.
        return [
            (pay, int(pay["value"]["amount"]) - refunded.get(pay["id"], 0))
            for pay in self._activities_of(rec, "payment")
            if not pay.get("external")
        ]

    def _refund(self, rec, amount, actor, **extra):
        """Record a refund activity split over the payments, and notify."""
        parts, left = [], amount
        for pay, refundable in self._refund_state(rec):
            take = min(left, refundable)
            if take <= 0:
                continue
            parts.append(
                {
                    "assetId": rec["meta"]
                    .get("payments", {})
                    .get(pay["id"], {})
                    .get("assetId"),
                    "assetType": pay["assetType"],
                    "completedPaymentId": pay["id"],
                    "amount": str(take),
                }
            )
            left -= take
        now = self.store.now()
        activity = self._add_activity(
            rec,
            "refund",
            amount,
            actor.crn,
            ts=now,
            assetType=parts[0]["assetType"],
            strategy={"refunds": parts},
            **extra,
        )
        rec["data"]["updatedAt"] = iso(now)
        # Refunds complete asynchronously (doc §6.6): initiated now, completed
        # after the configurable delay.
        self._notify("payment-request:refund-initiated", activity)
        self._notify(
            "payment-request:refund-completed",
            activity,
            delay=self.settings.refund_delay_seconds,
        )
        return activity

    def _check_farmlands_refund(self, rec, body, actor):
        """doc §6.6: a Farmlands refund names the refunding merchant's config."""
        farmlands = any(
            str(pay.get("assetType", "")).startswith("farmlands.nzd.")
            for pay, left in self._refund_state(rec)
            if left > 0
        )
        if not farmlands:
            return
        config = body.get("merchantConfigId")
        if not config or not isinstance(config, str):
            raise bad_request("merchantConfigId is required for farmlands.nzd.*")
        creds = self._creds_of(actor)
        if config not in (creds["merchantConfigId"], *creds.get("moreConfigIds", ())):
            # doc §15.19: undocumented; as E17 answers an unknown config.
            raise forbidden("MERCHANT_CONFIG_NOT_FOUND")

    def _check_refundable(self, rec, body, amount):
        """The 403s of E8, in the order doc §6.6 gives."""
        if body.get("confirmationIdempotencyKey") is not None:
            raise forbidden("CONFIRMATION_NOT_FOUND", "the sandbox has no pre-auth")
        if rec["data"]["status"] != "paid":
            raise forbidden("NOT_PAID")
        refundable = sum(left for _, left in self._refund_state(rec))
        if refundable <= 0:
            # doc §6.6: read as "fully refunded" (its text is legacy wording).
            raise forbidden("ALREADY_REFUNDED")
        window = self.settings.refund_window_seconds
        if self.store.now() - rec["meta"]["paidTs"] > window:
            raise forbidden("REFUND_WINDOW_EXCEEDED")
        if amount > refundable:
            raise forbidden("INVALID_AMOUNT", f"refundable amount is {refundable}")
        if not self.settings.partial_refunds and amount != refundable:
            raise forbidden("PARTIAL_REFUNDS_NOT_ALLOWED")

    def refund(self, pr_id, body, actor):
        """E8 ``POST /api/payment-requests/{id}/refund``."""
        if not isinstance(body, dict):
            raise bad_request("body must be a JSON object")
        value = body.get("value")
        if not isinstance(value, dict):
            raise bad_request("value is required")
        amount = parse_int(value.get("amount"), "value.amount")
        if amount >= MAX_AMOUNT:
            raise bad_request("value.amount must be less than 100000000")
        if value.get("currency") != CURRENCY:
            raise bad_request(f"value.currency must be {CURRENCY}")
        external_ref = body.get("externalRef")
        if not external_ref or not isinstance(external_ref, str):
            raise bad_request("externalRef is required")
        invoice_ref = body.get("invoiceRef")
        if invoice_ref is not None and (
            not isinstance(invoice_ref, str) or len(invoice_ref) > 128
        ):
            raise bad_request("invoiceRef must be a string of at most 128 characters")
        items = body.get("lineItems")
        if items is not None:
            items = self._validate_line_items(items)
            if sum(int(item["price"]) for item in items) != amount:
                raise bad_request("LINE_ITEMS_SUM_CHECK_FAILED")
        with self.store.mutate():
            rec = self._record(pr_id, actor)
            previous = rec["meta"]["refundRefs"].get(external_ref)
            if previous:
                # doc §3.7: externalRef is the refund's idempotency key; checked
                # before the state so a replay after a full refund is still 200.
                activity = self._activity(previous)
                if int(activity["value"]["amount"]) == amount:
                    return copy.deepcopy(activity)  # idempotent replay, no new refund
                raise forbidden("REPEAT_REFERENCE")
            self._check_farmlands_refund(rec, body, actor)
            self._check_refundable(rec, body, amount)
            activity = self._refund(
                rec,
                amount,
                actor,
                externalRef=external_ref,
                invoiceRef=invoice_ref,
                lineItems=items,
            )
            rec["meta"]["refundRefs"][external_ref] = activity["id"]
            return copy.deepcopy(activity)

    def void(self, pr_id, actor):
        """E7 ``POST /api/payment-requests/{id}/void``."""
        with self.store.mutate():
            rec = self._record(pr_id, actor)
            pr, meta = rec["data"], rec["meta"]
            if pr["status"] == "cancelled":
                # doc §15.4: idempotent, so that retried voids are safe.
                return copy.deepcopy(self._activities_of(rec, "cancellation")[-1])
            if pr["status"] == "expired":
                raise forbidden("REQUEST_EXPIRED")
            if self.store.now() - meta["createdTs"] > self.settings.void_window_seconds:
                raise forbidden("VOID_WINDOW_EXCEEDED")
            if pr["status"] == "paid":
                refundable = sum(left for _, left in self._refund_state(rec))
                if refundable <= 0:
                    raise forbidden("ALREADY_REFUNDED")
                # doc §15.2: a voided paid request stays "paid"; the refund
                # shows in the activities (and refund webhooks).
                return copy.deepcopy(self._refund(rec, refundable, actor))
            # doc §15.1/§15.3: void is the merchant cancel; a new request answers
            # the cancellation activity (as in the 2022 docs).
            return copy.deepcopy(self._cancel(rec, "CANCELLED_BY_MERCHANT", actor))

    def _cancel(self, rec, reason, actor):
        # Payments already taken on a still-new request (multi-asset) go back.
        refundable = sum(left for _, left in self._refund_state(rec))
        if refundable > 0:
            self._refund(rec, refundable, actor)
        now = self.store.now()
        rec["data"]["cancellationReason"] = reason
        self._set_status(rec, "cancelled", now)
        return self._add_activity(
            rec,
            "cancellation",
            self._value(rec["data"]),
            actor.crn,
            ts=now,
            cancellationReason=reason,
        )

    # -- test controls ----------------------------------------------------------

    def expire_now(self, pr_id):
        """Control: move ``expiresAt`` to now, expiring a ``new`` request."""
        with self.store.mutate():
            rec = self._record(pr_id)
            if rec["data"]["status"] != "new":
                raise ApiError(
                    409, "INVALID_STATE", f"status is {rec['data']['status']}"
                )
            now = self.store.now()
            rec["meta"]["expiresTs"] = now
            rec["data"]["expiresAt"] = iso(now)
            self._refresh(rec)
            return copy.deepcopy(rec["data"])

    def patron_cancel(self, pr_id):
        """Control: the patron cancels a ``new`` request."""
        with self.store.mutate():
            rec = self._record(pr_id)
            if rec["data"]["status"] != "new":
                raise forbidden(f"REQUEST_{rec['data']['status'].upper()}")
            return copy.deepcopy(
                self._cancel(rec, "CANCELLED_BY_PATRON", self.patron_actor)
            )

    def money_trail(self):
        """Control: every request's status and money, from its activities.

        ``paid`` and ``refunded`` are the sums (minor units) of its payment and
        refund activities: what Centrapay took from the patron and gave back.
        """
        with self.store.mutate():
            self._refresh_all()
            trail = []
            for rec in self.store.state["paymentRequests"].values():
                pr, acts = rec["data"], self._activities_of(rec)
                trail.append(
                    {
                        "id": pr["id"],
                        "accountId": rec["meta"]["accountId"],
                        "status": pr["status"],
                        "amount": self._value(pr),
                        "paid": sum(
                            int(a["value"]["amount"])
                            for a in acts
                            if a["type"] == "payment" and not a.get("external")
                        ),
                        "external": sum(
                            int(a["value"]["amount"])
                            for a in acts
                            if a["type"] == "payment" and a.get("external")
                        ),
                        "remainingAmount": pr["remainingAmount"],
                        "refunded": sum(
                            int(a["value"]["amount"])
                            for a in acts
                            if a["type"] == "refund"
                        ),
                        "externalRef": pr.get("externalRef"),
                        "createdAt": pr["createdAt"],
                        "expiresAt": pr["expiresAt"],
                        "cancellationReason": pr.get("cancellationReason"),
                        "activities": [
                            [a["type"], a["createdAt"], a["createdBy"]] for a in acts
                        ],
                    }
                )
            return trail
