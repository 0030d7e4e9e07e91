"""Settlements (E19) of the sandbox, made from its own payments and refunds.

Centrapay documents the Settlement model and that there is one per asset type
per merchant per period, not how or when they are made. The sandbox's
decisions (doc §6.13):

* The period is a UTC day. A merchant gets one settlement per asset type for
  every day with a payment or a refund of that asset.
* It is made when the day is over: ``createdAt`` is the next midnight UTC, the
  ``settlementDate`` that the day's payments carry in ``paidBy.assetTotals[]``
  (a payment counts in the settlement its request's ``paidBy`` names).
* It starts ``awaiting-confirmation`` with its bank account and bank transfer
  ids (as in Centrapay's example) and becomes ``confirmed``, with ``settledAt``
  and ``settledBy``, ``settlementConfirmSeconds`` (a setting) after its day.
* ``settlementAmount`` is the day's payments minus its refunds of that asset,
  in minor units (zero or negative when refunds win); fixed once confirmed.
* A test may set a settlement's status and amount (:meth:`Settlements.force`);
  it then never changes by itself again.
"""

import copy
from datetime import datetime, timezone

from .engine import CURRENCY, SYSTEM_CRN, TEST_ASSET, settlement_ts
from .util import bad_request, base58_id, forbidden, hex_id, iso, parse_int

AWAITING = "awaiting-confirmation"
CONFIRMED = "confirmed"
DAY = 86400
# The made-up day of :meth:`Settlements.seed`: (hour UTC, amount) of each sale,
# then a part refund of the second sale.
SEED_SALES = ((9, 1250), (12, 4800), (15, 2390))
SEED_REFUND = (16, 800)


def _parse_iso(value):
    when = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    return when.replace(tzinfo=timezone.utc).timestamp()


class Settlements:
    """The settlements of every merchant of one sandbox (state ``settlements``).

    They are brought up to date lazily, on each read: days that ended get
    their settlement, and settlements whose time has come are confirmed.
    """

    def __init__(self, engine):
        self.engine = engine
        self.store = engine.store

    # -- reads ------------------------------------------------------------------

    def list(self, merchant_id, page_key, limit, actor=None):
        """E19 ``GET /api/merchants/{merchantId}/settlements``: newest first.

        A merchant key reads only its own account's merchant.
        """
        limit = self.engine._page_limit(limit)
        with self.store.mutate():
            if merchant_id != self.engine._creds_of(actor)["merchantId"]:
                raise forbidden()
            rows = self._refresh(merchant_id)
            keys = [
                f"Settlement#{r['data']['id']}|{r['data']['createdAt']}" for r in rows
            ]
            items = [copy.deepcopy(r["data"]) for r in rows]
            return self.engine._paginate(items, keys, page_key, limit)

    def all(self):
        """Control: the settlements of every merchant, newest first."""
        with self.store.mutate():
            return [copy.deepcopy(r["data"]) for r in self._refresh()]

    # -- bringing them up to date -----------------------------------------------

    def _refresh(self, merchant_id=None):
        """Make the settlements of days that ended, confirm those due; return
        the rows (of one merchant, or all), newest first."""
        now = self.store.now()
        book = self.store.state["settlements"]
        before = copy.deepcopy(book)
        for (merchant, asset, end), (amount, currency) in self._totals(now).items():
            key = f"{merchant}|{asset}|{end}"
            if key not in book:
                book[key] = self._new(merchant, asset, end, currency)
            row = book[key]
            if not row["pinned"] and row["data"]["status"] == AWAITING:
                row["data"]["settlementAmount"] = str(amount)
        delay = self.engine.settings.settlement_confirm_seconds
        for row in book.values():
            if row["pinned"] or row["data"]["status"] != AWAITING:
                continue
            confirm_at = row["periodEnd"] + delay
            if now >= confirm_at:
                row["data"].update(
                    status=CONFIRMED, settledAt=iso(confirm_at), settledBy=SYSTEM_CRN
                )
        if book != before:
            self.store.touch()
        rows = [r for r in book.values() if merchant_id in (None, r["merchantId"])]
        rows.sort(key=lambda r: (r["periodEnd"], r["seq"]), reverse=True)
        return rows

    def _totals(self, now):
        """``{(merchant, asset type, period end): [amount, currency]}`` of the
        days that ended by ``now``."""
        totals = {}
        for row in self.store.state["activities"].values():
            act = row["data"]
            kind = str(act.get("type") or "").lower()
            if kind == "payment" and act.get("external"):
                continue  # doc §15.22: a tender Centrapay did not take
            if kind == "payment":
                parts = [(act.get("assetType"), int(act["value"]["amount"]))]
                end = self._paid_settlement(act) or settlement_ts(row["ts"])
            elif kind == "refund":
                # A refund is split over the payments' assets (its strategy).
                parts = [
                    (part["assetType"], -int(part["amount"]))
                    for part in act.get("strategy", {}).get("refunds", [])
                ] or [(act.get("assetType"), -int(act["value"]["amount"]))]
                end = settlement_ts(row["ts"])
            else:
                continue
            if end > now:
                continue
            for asset, amount in parts:
                if asset:
                    key = (act["merchantId"], asset, end)
                    entry = totals.setdefault(key, [0, act["value"]["currency"]])
                    entry[0] += amount
        return totals

    def _paid_settlement(self, act):
        """The settlement time the request's ``paidBy`` gives this payment."""
        rec = self.store.state["paymentRequests"].get(act.get("paymentRequestId"))
        paid_by = (rec or {}).get("data", {}).get("paidBy") or {}
        for total in paid_by.get("assetTotals", []):
            if total.get("type") == act.get("assetType") and total.get(
                "settlementDate"
            ):
                return _parse_iso(total["settlementDate"])
        return None

    def _new(self, merchant, asset, end, currency):
        # doc §6.13: the merchant's settlement config names one bank account.
        accounts = self.store.state.setdefault("settlementBankAccounts", {})
        data = {
            "id": hex_id(24),
            "status": AWAITING,
            "assetType": asset,
            "currency": currency,
            "createdAt": iso(end),
            "createdBy": SYSTEM_CRN,
            "settlementAmount": "0",
            "settlementBankAccountId": accounts.setdefault(merchant, hex_id(24)),
            "settlementBankTransferId": base58_id(),
            "type": "centrapay",
            "test": asset.endswith(".test"),
        }
        return {
            "data": data,
            "merchantId": merchant,
            "periodEnd": end,
            "pinned": False,
            "seq": self.store.next_seq(),
        }

    # -- test controls ----------------------------------------------------------

    def force(self, settlement_id, body):
        """Control: set ``status`` and/or ``settlementAmount``; pin the settlement.

        E.g. ``{"settlementAmount": "900"}`` (short) or
        ``{"status": "awaiting-confirmation"}`` (never confirmed: late).
        """
        if not isinstance(body, dict) or not body:
            raise bad_request("body must be a JSON object with status or amount")
        unknown = set(body) - {"status", "settlementAmount"}
        if unknown:
            raise bad_request(f"unknown fields: {', '.join(sorted(unknown))}")
        status = body.get("status")
        if status is not None and (not isinstance(status, str) or not status):
            raise bad_request("status must be a non-empty string")
        amount = body.get("settlementAmount")
        if amount is not None:
            amount = parse_int(
                amount, "settlementAmount", allow_negative=True, allow_zero=True
            )
        with self.store.mutate():
            rows = self._refresh()
            row = next((r for r in rows if r["data"]["id"] == settlement_id), None)
            if row is None:
                raise forbidden(reason="Settlement not found")
            data = row["data"]
            if amount is not None:
                data["settlementAmount"] = str(amount)
            if status == CONFIRMED:
                data.setdefault("settledAt", iso(self.store.now()))
                data.setdefault("settledBy", SYSTEM_CRN)
            elif status is not None:
                data.pop("settledAt", None)
                data.pop("settledBy", None)
            if status is not None:
                data["status"] = status
            row["pinned"] = True
            self.store.touch()
            return copy.deepcopy(data)

    def seed(self, days=3):
        """Control (demo): ``days`` past days of sales, each day settled.

        For each of the ``days`` UTC days before today, the sandbox merchant
        sells three times (``SEED_SALES``) and refunds part of the second sale
        (``SEED_REFUND``), at those past times (the sandbox clock itself does
        not move). The requests, activities and webhooks are real. Returns the
        settlements of those days, newest first: the older ones confirmed, the
        last ones still awaiting confirmation while ``settlementConfirmSeconds``
        has not passed.
        """
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 31:
            raise bad_request("days must be an integer from 1 to 31")
        engine = self.engine
        merchant, patron = engine.merchant_actor, engine.patron_actor
        today = settlement_ts(self.store.now()) - DAY
        for back in range(days, 0, -1):
            start = today - back * DAY
            day = iso(start)[:10]
            sold = []
            for number, (hour, amount) in enumerate(SEED_SALES, 1):
                with self.store.at(start + hour * 3600):
                    body = {
                        "configId": engine.creds["merchantConfigId"],
                        "value": {"amount": str(amount + back), "currency": CURRENCY},
                        "externalRef": f"demo-settlement/{day}/{number}",
                    }
                    pr = engine.create(body, merchant)
                    engine.pay(pr["id"], {"assetType": TEST_ASSET}, patron)
                    sold.append(pr["id"])
            hour, amount = SEED_REFUND
            with self.store.at(start + hour * 3600):
                refund = {
                    "value": {"amount": str(amount), "currency": CURRENCY},
                    "externalRef": f"demo-settlement/{day}/refund",
                }
                engine.refund(sold[1], refund, merchant)
        ends = {today - back * DAY + DAY for back in range(1, days + 1)}
        with self.store.mutate():
            rows = self._refresh(engine.creds["merchantId"])
            return [copy.deepcopy(r["data"]) for r in rows if r["periodEnd"] in ends]
