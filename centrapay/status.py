"""What a Centrapay Payment Request says, as the values our record should take.

A pure mapping, with no Odoo in it: the model's state machine decides whether
the change is allowed and applies it. Modelled on ``payment.transaction``,
whose provider modules map a provider status to a state in one table.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .errors import CentrapayUnknownOutcome

# Centrapay's statuses (doc §4.1), each our status of the same name.
# Our local ``draft`` and ``error`` are never accepted from Centrapay.
CENTRAPAY_STATUSES = {
    "new": "new",
    "paid": "paid",
    "cancelled": "cancelled",
    "expired": "expired",
}

# The cancellation reason we record when the patron paid just before our void,
# which Centrapay then refunded: the sale is not paid (doc §6.7).
REFUNDED_BY_VOID = "REFUNDED_BY_VOID"


def parse_timestamp(value: Any) -> datetime | None:
    """A Centrapay timestamp as a naive UTC datetime, or None if absent or bad."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).replace(tzinfo=None)


def _malformed(detail: str) -> CentrapayUnknownOutcome:
    return CentrapayUnknownOutcome("malformed", detail, method="GET")


def map_payment_request(
    payment_request: Any, *, refunded_by_void: bool = False
) -> dict:
    """Map a Payment Request body to ``{"status": …, "values": {…}}``.

    ``values`` holds only what the body says (id, short code, url, expiry,
    cancellation reason, what paid); the caller keeps what it knew for the rest.
    Partial payments (doc §10.3) and conditions (doc §10.2) add:

    * ``remaining_amount``: ``remainingAmount`` in minor units (an int), when
      given; ``paid`` with it above 0 means the rest is due in another tender;
    * ``centrapay_amount`` / ``external_amount``: minor units that ``paidBy``
      shows Centrapay took / tenders recorded as ``external.*``, when it has
      totals;
    * ``conditions``: every condition, ``{id, name, message, status}`` as
      strings, ``message`` verbatim; ``awaiting_merchant``: those the cashier
      must accept or decline; ``awaiting_patron``: those to show as information.

    Raises :class:`CentrapayUnknownOutcome` (``malformed``) for a body that
    cannot be trusted: not an object, an unknown status, a ``paidBy`` that is
    not an object or whose totals are not monetary objects, a
    ``remainingAmount`` that is no amount, conditions that are not a list of
    objects with an id and a status.
    """
    if not isinstance(payment_request, Mapping):
        raise _malformed("the payment request is not an object")
    raw_status = payment_request.get("status")
    status = CENTRAPAY_STATUSES.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        raise _malformed(f"unexpected status {raw_status!r}")
    paid_by_values = _paid_by(payment_request.get("paidBy"))
    reason = payment_request.get("cancellationReason")
    reason = reason if isinstance(reason, str) and reason else None
    if status == "paid" and refunded_by_void:
        status, reason = "cancelled", REFUNDED_BY_VOID
    values: dict[str, Any] = {"cancellation_reason": reason}
    for key, field in (("id", "centrapay_id"), ("shortCode", "short_code")):
        value = payment_request.get(key)
        if isinstance(value, str) and value:
            values[field] = value
    url = payment_request.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        values["url"] = url
    expires_at = parse_timestamp(payment_request.get("expiresAt"))
    if expires_at:
        values["expires_at"] = expires_at
    for key, field in (("merchantId", "merchant_id"), ("configId", "config_id")):
        value = payment_request.get(key)
        if isinstance(value, str) and value:
            values[field] = value
    remaining = payment_request.get("remainingAmount")
    if remaining is not None:
        values["remaining_amount"] = _minor_units(remaining, "remainingAmount")
    values.update(_conditions(payment_request.get("merchantConditions")))
    values.update(paid_by_values)
    return {"status": status, "values": values}


def _paid_by(paid_by: Any) -> dict:
    """What paid, from a ``paidBy`` (doc §4): the totals Centrapay took and
    those of tenders recorded as ``external.*``, in minor units, and the
    descriptions; empty without totals."""
    if paid_by is not None and not isinstance(paid_by, Mapping):
        raise _malformed("paidBy is not an object")
    totals = (paid_by or {}).get("assetTotals") or []
    if not isinstance(totals, list) or not all(isinstance(t, Mapping) for t in totals):
        raise _malformed("paidBy.assetTotals is not a list of objects")
    if not totals:
        return {}
    centrapay, external = 0, 0
    for total in totals:
        money = total.get("total") or {}
        if not isinstance(money, Mapping):
            raise _malformed("a paidBy total is not an object")
        amount = money.get("amount")
        amount = _minor_units(amount, "paidBy total") if amount is not None else 0
        if str(total.get("type") or "").startswith("external."):
            external += amount
        else:
            centrapay += amount
    return {
        "centrapay_amount": centrapay,
        "external_amount": external,
        "paid_by": dict(paid_by),
        "paid_by_description": ", ".join(
            str(t.get("description") or t.get("type") or "") for t in totals
        ),
        "asset_types": ", ".join(
            sorted({str(t.get("type")) for t in totals if t.get("type")})
        ),
    }


def _minor_units(value: Any, what: str) -> int:
    """A bignumber of minor units (string or integer) as an int."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _malformed(f"{what} is not an amount: {value!r}")


def _conditions(raw: Any) -> dict:
    """The conditions of a request, split by who must answer (doc §10.2)."""
    if raw is None:
        raw = []
    if not isinstance(raw, list) or not all(isinstance(c, Mapping) for c in raw):
        raise _malformed("merchantConditions is not a list of objects")
    conditions = []
    for item in raw:
        if item.get("id") in (None, "") or not isinstance(item.get("status"), str):
            raise _malformed("a condition lacks its id or status")
        conditions.append(
            {
                # doc §15.11: ids are numbers in the model, strings in examples.
                "id": str(item["id"]),
                "name": str(item.get("name") or ""),
                "message": str(item.get("message") or ""),
                "status": item["status"],
            }
        )
    return {
        "conditions": conditions,
        "awaiting_merchant": [
            c for c in conditions if c["status"] == "awaiting-merchant"
        ],
        "awaiting_patron": [c for c in conditions if c["status"] == "awaiting-patron"],
    }


def refunded_after(activities: Any, since: datetime | None) -> bool:
    """Whether the activities hold a refund made at or after ``since``.

    Used after a void whose own answer was lost: voiding a paid request refunds
    it (doc §6.7), and the activities are the truth.
    """
    for item in activities or []:
        if not isinstance(item, Mapping):
            continue
        if str(item.get("type", "")).lower() != "refund":
            continue
        at = parse_timestamp(item.get("createdAt"))
        if since is None or at is None or at >= since:
            return True
    return False
