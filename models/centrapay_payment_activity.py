import json
import logging
from decimal import Decimal, InvalidOperation

import psycopg2.errors

from odoo import api, fields, models

from ..centrapay.status import parse_timestamp
from .centrapay_rate_limit import read_committed_cursor

_logger = logging.getLogger(__name__)

_INSERT = """
INSERT INTO centrapay_payment_activity
       (centrapay_request_id, activity_number, request_id, activity_type, amount,
        currency_id, asset_type, external_ref, short_code, merchant_id,
        merchant_config_id, created_by, occurred_at, paid_by_json, company_id,
        session_id, config_id, create_uid, write_uid, create_date, write_date)
VALUES %s
ON CONFLICT (centrapay_request_id, activity_number) DO UPDATE
   SET request_id = COALESCE(centrapay_payment_activity.request_id,
                             EXCLUDED.request_id),
       session_id = COALESCE(centrapay_payment_activity.session_id,
                             EXCLUDED.session_id),
       config_id = COALESCE(centrapay_payment_activity.config_id,
                            EXCLUDED.config_id),
       paid_by_json = COALESCE(centrapay_payment_activity.paid_by_json,
                               EXCLUDED.paid_by_json)
RETURNING id, (xmax = 0) AS inserted
"""

# Who owns Centrapay ids, as committed now (not as the caller's snapshot saw it).
_OWNERS = """
SELECT centrapay_id, id, company_id, currency_id, session_id, config_id
  FROM centrapay_payment_request WHERE centrapay_id = ANY(%s)
"""
_NO_OWNER = (None, None, None, None, None)

_LINK = """
UPDATE centrapay_payment_activity a
   SET request_id = r.id, company_id = r.company_id, session_id = r.session_id,
       config_id = r.config_id
  FROM centrapay_payment_request r
 WHERE r.id = ANY(%s) AND a.request_id IS NULL
   AND a.centrapay_request_id = r.centrapay_id
"""


class CentrapayPaymentActivity(models.Model):
    """The merchant's Centrapay ledger: one Payment Activity (doc §4.2) each.

    Activities come from the account's activity feed (E10) and from a request's
    own list (E9). Each is stored once, keyed by Centrapay's request id and
    activity number, and linked to its request when the request is ours.
    Payments, refunds, cancellations and expiries made outside Odoo are here too.
    """

    _name = "centrapay.payment.activity"
    _description = "Centrapay Payment Activity"
    _order = "occurred_at desc, activity_number desc, id desc"

    centrapay_request_id = fields.Char(
        "Centrapay Request ID", required=True, readonly=True, index=True
    )
    activity_number = fields.Integer(readonly=True)
    request_id = fields.Many2one(
        "centrapay.payment.request", readonly=True, ondelete="set null", index=True
    )
    activity_type = fields.Char("Type", readonly=True)
    amount = fields.Monetary(readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    asset_type = fields.Char(readonly=True)
    external_ref = fields.Char(readonly=True)
    short_code = fields.Char(readonly=True)
    merchant_id = fields.Char(readonly=True)
    merchant_config_id = fields.Char(readonly=True)
    created_by = fields.Char(readonly=True)
    occurred_at = fields.Datetime(readonly=True, index=True)
    paid_by_json = fields.Text(
        "Paid By",
        readonly=True,
        help="The paidBy Centrapay gives on the payment that made its request "
        "paid: what paid, and when it settles.",
    )
    company_id = fields.Many2one("res.company", readonly=True, index=True)
    session_id = fields.Many2one(
        related="request_id.session_id", store=True, string="Session"
    )
    config_id = fields.Many2one(
        related="request_id.config_id", store=True, string="Point of Sale"
    )

    _sql_constraints = [
        (
            "activity_unique",
            "unique(centrapay_request_id, activity_number)",
            "A Centrapay activity is stored once.",
        )
    ]

    @api.model
    def _centrapay_amount(self, value, currency):
        """A Centrapay monetary (minor units as a string) in major units."""
        try:
            minor = Decimal(str((value or {}).get("amount") or 0))
        except (InvalidOperation, AttributeError):
            return 0.0
        return float(minor.scaleb(-currency.decimal_places))

    @api.model
    def _centrapay_owners(self, centrapay_ids):
        """{Centrapay id: (request, company, currency, session, POS) ids} of our
        requests among ``centrapay_ids``, as committed now.

        Read in a transaction of its own: the feed's began before its call, and
        a create that committed its Centrapay id during that round trip is
        invisible to it, while its patron may have paid by the time Centrapay
        answers. Unlinked, that payment would be stored as another's and never
        brought again.
        """
        if not centrapay_ids:
            return {}
        with read_committed_cursor(self.pool) as cr:
            cr.execute(_OWNERS, [list(centrapay_ids)])
            return {row[0]: row[1:] for row in cr.fetchall()}

    @api.model
    def _centrapay_link(self, requests):
        """Link to ``requests`` their activities stored before they could be."""
        if requests:
            requests.flush_recordset(["centrapay_id"])
            self.env.cr.execute(_LINK, [requests.ids])
            self.invalidate_model()
            requests.invalidate_recordset(["activity_ids"])

    @api.model
    def _centrapay_store(self, items, request=None, company=None, owners=None):
        """Store activities not stored yet; return the new ones.

        ``request``: the request they all belong to (E9). Otherwise each is
        linked to its request through ``owners`` (``_centrapay_owners``), when
        ours. Items without a request id or a number cannot be deduplicated:
        skipped.
        """
        owners = owners or {}
        # As ``_centrapay_owners`` gives them: NULL (None) where it has none.
        mine = request and tuple(
            record.id or None
            for record in (
                request,
                request.company_id,
                request.currency_id,
                request.session_id,
                request.config_id,
            )
        )
        Currency = self.env["res.currency"]
        rows = []
        uid = self.env.uid
        now = fields.Datetime.now()
        currencies = {}
        for item in items:
            if not isinstance(item, dict):
                continue
            cp_id = item.get("paymentRequestId") or (request and request.centrapay_id)
            try:
                number = int(item.get("activityNumber"))
            except (TypeError, ValueError):
                continue
            if not cp_id or not isinstance(cp_id, str):
                continue
            owner_id, owner_company, owner_currency, session, pos = (
                mine or owners.get(cp_id) or _NO_OWNER
            )
            owner_currency = Currency.browse(owner_currency)
            value = item.get("value") if isinstance(item.get("value"), dict) else {}
            code = value.get("currency") or owner_currency.name
            if code not in currencies:
                currencies[code] = Currency.with_context(active_test=False).search(
                    [("name", "=", code)], limit=1
                )
            currency = currencies[code] or owner_currency
            rows.append(
                (
                    cp_id,
                    number,
                    owner_id,
                    # Lower case once, here: readers compare it as it is.
                    str(item.get("type") or "")[:64].lower() or None,
                    self._centrapay_amount(value, currency) if currency else 0.0,
                    currency.id or None,
                    str(item.get("assetType") or "")[:128] or None,
                    str(item.get("externalRef") or "")[:128] or None,
                    str(item.get("shortCode") or "")[:64] or None,
                    str(item.get("merchantId") or "")[:64] or None,
                    str(item.get("merchantConfigId") or "")[:64] or None,
                    str(item.get("createdBy") or "")[:128] or None,
                    parse_timestamp(item.get("createdAt")),
                    json.dumps(item["paidBy"])
                    if isinstance(item.get("paidBy"), dict)
                    else None,
                    owner_company or (company or self.env.company).id,
                    session,
                    pos,
                    uid,
                    uid,
                    now,
                    now,
                )
            )
        if not rows:
            return self.browse()
        self.flush_model()
        placeholders = ",".join(["%s"] * len(rows))
        try:
            # Two engines (or the feed and a ledger read) storing one activity
            # at once: under Odoo's REPEATABLE READ the later insert cannot
            # serialize. Expected, and handled by the callers: not an error.
            self.env.cr.execute(_INSERT % placeholders, rows, log_exceptions=False)
        except psycopg2.errors.SerializationFailure:
            _logger.info("Centrapay activities stored concurrently; left to the other")
            raise
        new_ids = [row[0] for row in self.env.cr.fetchall() if row[1]]
        self.invalidate_model()
        self.env["centrapay.payment.request"].invalidate_model(["activity_ids"])
        new = self.browse(new_ids)
        # A refund entering the ledger settles ours, or records one made outside.
        self.env["centrapay.refund"].sudo()._centrapay_from_ledger(new)
        return new

    @api.model
    def _centrapay_key(self, item):
        """(Centrapay request id, activity number) of a feed item, or Nones."""
        if not isinstance(item, dict):
            return None, None
        cp_id = item.get("paymentRequestId")
        try:
            number = int(item.get("activityNumber"))
        except (TypeError, ValueError):
            number = None
        return (cp_id if isinstance(cp_id, str) and cp_id else None), number
